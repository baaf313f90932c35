"""The small pydantic types that cross Temporal. They carry ids and counters, never the conversation (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

StopReason = Literal["end_turn", "requires_action", "retries_exhausted", "refusal", "budget_reached"]
ToolKind = Literal["builtin", "custom", "mcp"]
Permission = Literal["allow", "ask", "deny"]
SessionStatus = Literal["idle", "running", "rescheduling", "terminated"]
# The most models one model request may go through: the agent's model and up to three fallbacks. The model_step
# activity picks the model by attempt number; the workflow only has to allow this many models' attempts.
MAX_MODEL_CHAIN = 4


class SessionCarry(BaseModel):
    """Control state carried across continue-as-new."""

    step: int = 0
    inbox: list[str] = Field(default_factory=list[str])
    interrupts: list[str] = Field(default_factory=list[str])
    turns: int = 0
    sandbox: SandboxHandle | None = None
    # The last few message ids taken from the inbox: a repeated delivery of one of them is dropped.
    recent: list[str] = Field(default_factory=list[str])
    # One-shot wakeups still to fire: durable timers of this workflow, carried across continue-as-new.
    wakeups: list[WakeupTimer] = Field(default_factory=lambda: list[WakeupTimer]())


class SessionStart(BaseModel):
    """Input of ``SessionWorkflow.run``.

    ``reconcile`` says that an earlier run of this session may have left work behind (the log has events, yet this
    is a fresh start: an operator terminated the workflow, it failed, or Temporal lost it), so the run begins by
    reconciling the log. ``model`` is for the Temporal UI only.
    """

    session_id: str
    agent_id: str
    model: str = ""
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    mcp_max_attempts: int = 6
    sandbox: SandboxSpec | None = None
    reconcile: bool = False
    carry: SessionCarry = Field(default_factory=SessionCarry)


class Answer(BaseModel):
    """A person's answer to a blocking tool call: a confirmation, or a custom tool's result (``allow`` is True)."""

    event_id: str
    tool_use_id: str
    allow: bool


class Delivery(BaseModel):
    """Signal payload: ids of user events the API has just persisted and checked, in order."""

    message_ids: list[str] = Field(default_factory=list[str])
    interrupt_ids: list[str] = Field(default_factory=list[str])
    answers: list[Answer] = Field(default_factory=list[Answer])
    # The session's budget was raised or removed: work paused at the budget may go on.
    budget_changed: bool = False


class WakeupTimer(BaseModel):
    """Signal payload and carried state: a one-shot wakeup to fire at ``fire_at`` (its reason stays in the DB)."""

    wakeup_id: str
    fire_at: datetime


class WakeupCancel(BaseModel):
    """Signal payload: drop a one-shot wakeup's timer (the DB already says it is cancelled)."""

    wakeup_id: str


class Shutdown(BaseModel):
    """Signal payload: the session was archived or deleted; the workflow ends."""

    reason: Literal["archived", "deleted"]


class ModelStepRequest(BaseModel):
    """One model request. ``mark_processed`` is non-empty on a turn's first step: those user events start it.

    ``max_attempts`` is per model (each fallback gets as many); ``resume`` says the turn goes on after a pause at
    the budget, so the session goes running again.
    """

    session_id: str
    step: int
    mark_processed: list[str] = Field(default_factory=list[str])
    max_attempts: int = 5
    resume: bool = False


class ToolUseRef(BaseModel):
    """A tool call the model asked for; its input stays in the event log (``preview``: a line for the Temporal UI).

    For an MCP call, ``name`` is the server's own tool name and ``mcp_server_name`` the agent's name for the server.
    """

    event_id: str
    name: str
    kind: ToolKind = "builtin"
    permission: Permission | None = None
    preview: str = ""
    mcp_server_name: str | None = None

    @property
    def blocking(self) -> bool:
        """Whether a person must answer before the call can go on."""
        return self.kind == "custom" or self.permission == "ask"


# ``ModelStepReply.stop_reason`` of a step that heard a ``user.interrupt`` on the bus and cut its request short.
INTERRUPTED_ON_BUS = "interrupted"


class ModelStepReply(BaseModel):
    """What the workflow needs to decide the next step. ``finished`` means the activity already ended the turn.

    ``stale`` means the turn's user events had all been processed by an earlier run (signals re-applied after a
    reset, or a redelivery): the activity wrote nothing and the turn is skipped. ``paused``: see the field.
    """

    stop_reason: str
    tool_uses: list[ToolUseRef] = Field(default_factory=list[ToolUseRef])
    finished: bool = False
    stale: bool = False
    # The session reached its budget before this request: the activity went idle (budget_reached) and the turn
    # waits until the budget is raised or removed.
    paused: bool = False
    # A replayed reply (the step had recorded it): the user events the request asked to mark that the recorded step
    # never took. A workflow task that fails (a signal came while it continued as new, a dead worker) runs again with
    # every signal since the last completed task, so the step's local activity may be asked again with more events
    # than it answered the first time; the workflow queues these again instead of losing them.
    unseen_messages: list[str] = Field(default_factory=list[str])
    unseen_interrupts: list[str] = Field(default_factory=list[str])


class BeginRunRequest(BaseModel):
    """Reconcile the log at the start of a run that follows a run which ended abruptly (``SessionStart.reconcile``)."""

    session_id: str
    step: int


class BeginRunReply(BaseModel):
    """What the new run must pick up: queued user events, and calls still waiting for people with their answers."""

    queued_messages: list[str] = Field(default_factory=list[str])
    queued_interrupts: list[str] = Field(default_factory=list[str])
    blocking: list[ToolUseRef] = Field(default_factory=list[ToolUseRef])
    answers: list[Answer] = Field(default_factory=list[Answer])
    # The earlier run left its turn paused at the budget (its last idle says budget_reached).
    budget_paused: bool = False
    wakeups: list[WakeupTimer] = Field(default_factory=list[WakeupTimer])


class FinishTurnRequest(BaseModel):
    """Go idle: the turn ended (error, interrupt, exhausted retries) or waits for people (``requires_action``).

    ``processed_ids`` are user events to mark processed first (dropped input, interrupts, partial answers);
    ``close_tool_use_ids`` get an error tool result (calls an interrupt cut off); ``blocking_ids`` are listed by a
    ``requires_action`` stop reason. ``mcp_server_name`` names the server of an MCP error; ``close_message`` is
    the text of the cut-off calls' results (an interrupt's by default).
    """

    session_id: str
    step: int
    stop_reason: StopReason
    error_type: str | None = None
    error_message: str | None = None
    processed_ids: list[str] = Field(default_factory=list[str])
    close_tool_use_ids: list[str] = Field(default_factory=list[str])
    blocking_ids: list[str] = Field(default_factory=list[str])
    mcp_server_name: str | None = None
    close_message: str | None = None


class ResumeRequest(BaseModel):
    """Every blocking call is answered: mark the answers processed, go running, record a person's denials.

    ``order`` lists every call of the model response in the model's order: results become visible in that order.
    """

    session_id: str
    step: int
    answer_ids: list[str]
    order: list[str] = Field(default_factory=list[str])


class AcknowledgeRequest(BaseModel):
    """Mark user events processed with no other effect (interrupts sent to an idle session)."""

    session_id: str
    event_ids: list[str]


ResultReason = Literal["denied", "no_executor", "sandbox_unavailable"]


class RecordResultsRequest(BaseModel):
    """Write error tool results (denials, calls nobody can run) for these tool uses.

    ``order`` lists every call of the model response in the model's order: results become visible in that order.
    ``message`` is a person's ``deny_message`` or the reason nothing could run the call.
    """

    session_id: str
    step: int
    tool_uses: list[ToolUseRef]
    reason: ResultReason
    message: str | None = None
    order: list[str] = Field(default_factory=list[str])


class SandboxNotice(BaseModel):
    """Record in the log that the session's sandbox host was lost and a new sandbox (empty workspace) replaced it."""

    session_id: str
    step: int
    lost_host: str
    new_host: str
    workspace_restored: bool = False


SandboxBackend = Literal["bwrap", "docker"]


class SandboxSpec(BaseModel):
    """What a session's sandbox is made from: the environment's config captured at session creation.

    ``allowed_hosts``, ``allow_package_managers`` and ``allow_mcp_servers`` matter under ``limited`` networking only;
    ``mcp_hosts`` are the hosts of the agent's MCP servers, which ``allow_mcp_servers`` lets the sandbox reach.
    """

    session_id: str
    networking: Literal["unrestricted", "limited"] = "unrestricted"
    allowed_hosts: list[str] = Field(default_factory=list[str])
    allow_package_managers: bool = False
    allow_mcp_servers: bool = False
    mcp_hosts: list[str] = Field(default_factory=list[str])
    packages: dict[str, list[str]] = Field(default_factory=dict[str, list[str]])

    @classmethod
    def of_session(
        cls, session_id: str, config: Mapping[str, Any] | None, agent: Mapping[str, Any] | None
    ) -> SandboxSpec:
        """The spec for a cloud environment ``config`` (response form, or empty) and the session's agent snapshot."""
        config = config or {}
        networking: Mapping[str, Any] = config.get("networking") or {}
        packages: Mapping[str, Any] = config.get("packages") or {}
        lists = {
            str(manager): [str(name) for name in cast(list[Any], names)]
            for manager, names in packages.items()
            if manager != "type" and isinstance(names, list) and names
        }
        servers: list[Any] = list((agent or {}).get("mcp_servers") or [])
        urls = [str(cast(Mapping[str, Any], server).get("url", "")) for server in servers if isinstance(server, dict)]
        hosts = {urlsplit(url).hostname for url in urls}
        allowed: list[Any] = list(networking.get("allowed_hosts") or [])
        return cls(
            session_id=session_id,
            networking="limited" if networking.get("type") == "limited" else "unrestricted",
            allowed_hosts=[str(host) for host in allowed],
            allow_package_managers=bool(networking.get("allow_package_managers")),
            allow_mcp_servers=bool(networking.get("allow_mcp_servers")),
            mcp_hosts=sorted(host for host in hosts if host),
            packages=lists,
        )


class SandboxHandle(BaseModel):
    """Where a session's sandbox lives: tool activities go to ``task_queue`` (the owning host's own queue)."""

    session_id: str
    host: str
    task_queue: str
    backend: SandboxBackend
    generation: int = 1
    workspace_restored: bool = False


class ProvisionRequest(BaseModel):
    """Create (lazily, idempotently) the session's sandbox on the worker host that picks this up."""

    spec: SandboxSpec
    generation: int = 1


class ToolCallRequest(BaseModel):
    """Run one tool call; its input is read from the event log, its result written there.

    ``order`` lists every call of the model response in the model's order: results become visible in that order.
    """

    session_id: str
    step: int
    tool_use: ToolUseRef
    handle: SandboxHandle | None = None
    order: list[str] = Field(default_factory=list[str])


class ToolCallReply(BaseModel):
    """How the tool call ended."""

    is_error: bool


class DestroyRequest(BaseModel):
    """Remove a session's sandbox and workspace (session deleted)."""

    session_id: str


class CredentialProbe(BaseModel):
    """Probe an ``mcp_oauth`` credential against its MCP server (``mcp_oauth_validate``); only ids cross Temporal."""

    vault_id: str
    credential_id: str


class HttpCapture(BaseModel):
    """An HTTP error response seen while probing, truncated and scrubbed of the credential's secrets."""

    status_code: int
    content_type: str
    body: str
    body_truncated: bool


class RefreshOutcome(BaseModel):
    """How a refresh-token exchange attempted by the probe ended."""

    status: Literal["succeeded", "failed", "connect_error", "no_refresh_token"]
    http_response: HttpCapture | None = None


class ProbeFailure(BaseModel):
    """The MCP step that failed (``initialize`` or ``tools/list``)."""

    method: str
    http_response: HttpCapture | None = None


class ProbeReply(BaseModel):
    """The verdict of a credential probe."""

    status: Literal["valid", "invalid", "unknown"]
    has_refresh_token: bool
    refresh: RefreshOutcome | None = None
    mcp_probe: ProbeFailure | None = None


class DeploymentFireStart(BaseModel):
    """Input of ``DeploymentFireWorkflow``, the action of a deployment's Temporal Schedule."""

    deployment_id: str


class FireDeploymentRequest(BaseModel):
    """Turn one scheduled fire into a session and a run; ``scheduled_at`` (the cron time) keys it exactly once."""

    deployment_id: str
    scheduled_at: datetime


class FireDeploymentReply(BaseModel):
    """The run the fire recorded (None: skipped, the deployment is archived or paused), and its session or error."""

    run_id: str | None = None
    session_id: str | None = None
    error_type: str | None = None


class WakeupFireStart(BaseModel):
    """Input of ``WakeupFireWorkflow``, the action of a recurring wakeup's Temporal Schedule."""

    session_id: str
    wakeup_id: str


class FireWakeupRequest(BaseModel):
    """Record one firing of a wakeup in the session's log and deliver it; ``scheduled_at`` keys it exactly once."""

    session_id: str
    wakeup_id: str
    scheduled_at: datetime


class FireWakeupReply(BaseModel):
    """The queued event the firing delivered; None when the wakeup was cancelled or its session is gone."""

    event_id: str | None = None


SessionCarry.model_rebuild()
SessionStart.model_rebuild()
