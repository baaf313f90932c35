"""The small pydantic types that cross Temporal. They carry ids and counters, never the conversation (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

StopReason = Literal["end_turn", "requires_action", "retries_exhausted", "refusal", "budget_reached"]
ToolKind = Literal["builtin", "custom", "mcp"]
Permission = Literal["allow", "ask", "deny"]
SessionStatus = Literal["idle", "running", "rescheduling", "terminated"]


class SessionCarry(BaseModel):
    """Control state carried across continue-as-new."""

    step: int = 0
    inbox: list[str] = Field(default_factory=list[str])
    interrupts: list[str] = Field(default_factory=list[str])
    turns: int = 0
    sandbox: SandboxHandle | None = None
    # The last few message ids taken from the inbox: a repeated delivery of one of them is dropped.
    recent: list[str] = Field(default_factory=list[str])


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


class Shutdown(BaseModel):
    """Signal payload: the session was archived or deleted; the workflow ends."""

    reason: Literal["archived", "deleted"]


class ModelStepRequest(BaseModel):
    """One model request. ``mark_processed`` is non-empty on a turn's first step: those user events start it."""

    session_id: str
    step: int
    mark_processed: list[str] = Field(default_factory=list[str])
    max_attempts: int = 5


class ToolUseRef(BaseModel):
    """A tool call the model asked for; its input stays in the event log (``preview``: a line for the Temporal UI)."""

    event_id: str
    name: str
    kind: ToolKind = "builtin"
    permission: Permission | None = None
    preview: str = ""

    @property
    def blocking(self) -> bool:
        """Whether a person must answer before the call can go on."""
        return self.kind == "custom" or self.permission == "ask"


class ModelStepReply(BaseModel):
    """What the workflow needs to decide the next step. ``finished`` means the activity already ended the turn.

    ``stale`` means the turn's user events had all been processed by an earlier run (signals re-applied after a
    reset, or a redelivery): the activity wrote nothing and the turn is skipped.
    """

    stop_reason: str
    tool_uses: list[ToolUseRef] = Field(default_factory=list[ToolUseRef])
    finished: bool = False
    stale: bool = False


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


class FinishTurnRequest(BaseModel):
    """Go idle: the turn ended (error, interrupt, exhausted retries) or waits for people (``requires_action``).

    ``processed_ids`` are user events to mark processed first (dropped input, interrupts, partial answers);
    ``close_tool_use_ids`` get an error tool result (calls an interrupt cut off); ``blocking_ids`` are listed by a
    ``requires_action`` stop reason.
    """

    session_id: str
    step: int
    stop_reason: StopReason
    error_type: str | None = None
    error_message: str | None = None
    processed_ids: list[str] = Field(default_factory=list[str])
    close_tool_use_ids: list[str] = Field(default_factory=list[str])
    blocking_ids: list[str] = Field(default_factory=list[str])


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


SessionCarry.model_rebuild()
SessionStart.model_rebuild()
