"""Fake activities registered under the real declarations, for workflow tests that run on a real Temporal server.

Each fake records its calls; a test scripts what ``model_step`` replies per step and how the sandbox behaves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.contracts import (
    AcknowledgeRequest,
    BeginRunReply,
    BeginRunRequest,
    CredentialProbe,
    Delivery,
    DestroyRequest,
    FinishTurnRequest,
    FireDeploymentReply,
    FireDeploymentRequest,
    FireWakeupReply,
    FireWakeupRequest,
    ModelStepReply,
    ModelStepRequest,
    ProbeReply,
    ProvisionRequest,
    RecordResultsRequest,
    ResumeRequest,
    SandboxHandle,
    SandboxNotice,
    SessionStart,
    ToolCallReply,
    ToolCallRequest,
    ToolUseRef,
)
from workflows.declarations import (
    ACKNOWLEDGE_EVENTS,
    BEGIN_RUN,
    DECLARED,
    DESTROY_SANDBOX,
    FINISH_TURN,
    FIRE_DEPLOYMENT,
    FIRE_WAKEUP,
    MODEL_STEP,
    NOTE_SANDBOX_RESET,
    PROBE_CREDENTIAL,
    PROVISION_SANDBOX,
    RECORD_TOOL_RESULTS,
    RESUME_TURN,
    RUN_MCP_TOOL,
    RUN_TOOL,
)
from workflows.session import SessionWorkflow

Reply = ModelStepReply | Exception


def uses(*names: str, permission: str = "allow") -> list[ToolUseRef]:
    return [
        ToolUseRef(event_id=f"use-{uuid.uuid4().hex[:8]}", name=name, permission=permission)  # pyright: ignore[reportArgumentType]
        for name in names
    ]


def mcp_uses(*names: str, server: str = "docs", permission: str = "allow") -> list[ToolUseRef]:
    return [
        ToolUseRef(
            event_id=f"use-{uuid.uuid4().hex[:8]}",
            name=name,
            kind="mcp",
            permission=permission,  # pyright: ignore[reportArgumentType]
            mcp_server_name=server,
        )
        for name in names
    ]


def calls_tools(tool_uses: list[ToolUseRef]) -> ModelStepReply:
    return ModelStepReply(stop_reason="tool_use", tool_uses=tool_uses)


DONE = ModelStepReply(stop_reason="end_turn", finished=True)


@dataclass
class ToolRun:
    name: str
    event_id: str
    started: float
    ended: float = 0.0
    cancelled: bool = False


@dataclass
class Fakes:
    """The scripted activities; ``log`` lists (activity name, request) in call order."""

    replies: list[Reply] = field(default_factory=list[Reply])
    provision: Callable[[ProvisionRequest], SandboxHandle] | None = None
    tool_seconds: dict[str, float] = field(default_factory=dict[str, float])
    model_seconds: float = 0.0
    begin: BeginRunReply = field(default_factory=BeginRunReply)
    log: list[tuple[str, Any]] = field(default_factory=list[tuple[str, Any]])
    tool_runs: list[ToolRun] = field(default_factory=list[ToolRun])
    run_ids: list[str] = field(default_factory=list[str])
    # (workflow run, step) -> the events its first successful attempt marked, and what it replied.
    recorded: dict[tuple[str, int], tuple[list[str], ModelStepReply]] = field(
        default_factory=dict[tuple[str, int], tuple[list[str], ModelStepReply]]
    )
    # An MCP tool's name -> the failure each attempt of its call raises (a tool not named here succeeds).
    mcp_failures: dict[str, Callable[[int], Exception | None]] = field(default_factory=dict[str, Any])
    host_queue: str = field(default_factory=lambda: f"host-{uuid.uuid4().hex[:8]}")

    def called(self, name: str) -> list[Any]:
        return [request for activity_name, request in self.log if activity_name == name]

    def _mcp_activities(self, simulate: Callable[[ToolCallRequest], Any]) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name=RUN_MCP_TOOL.name)
        async def run_mcp_tool(request: ToolCallRequest) -> ToolCallReply:
            fakes.log.append((RUN_MCP_TOOL.name, request))
            failure = fakes.mcp_failures.get(request.tool_use.name)
            problem = failure(activity.info().attempt) if failure is not None else None
            if problem is not None:
                raise problem
            return await simulate(request)

        @activity.defn(name=PROBE_CREDENTIAL.name)
        async def probe_credential(request: CredentialProbe) -> ProbeReply:
            fakes.log.append((PROBE_CREDENTIAL.name, request))
            return ProbeReply(status="valid", has_refresh_token=False)

        return [run_mcp_tool, probe_credential]

    async def model_step(self, request: ModelStepRequest) -> ModelStepReply:
        self.log.append((MODEL_STEP.name, request))
        self.run_ids.append(activity.info().workflow_run_id or "")
        deadline = time.monotonic() + self.model_seconds
        while time.monotonic() < deadline:
            activity.heartbeat()
            await asyncio.sleep(0.05)
        key = (activity.info().workflow_run_id or "", request.step)
        if key in self.recorded:
            # Like the real step: a step run again replays what it recorded, and names what it was not sent before.
            taken, reply = self.recorded[key]
            unseen = [event_id for event_id in request.mark_processed if event_id not in taken]
            return reply.model_copy(update={"unseen_messages": unseen})
        reply = self.replies.pop(0) if self.replies else DONE
        if isinstance(reply, Exception):
            raise reply
        self.recorded[key] = (list(request.mark_processed), reply)
        return reply

    def _fire_activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name=FIRE_WAKEUP.name)
        async def fire_wakeup(request: FireWakeupRequest) -> FireWakeupReply:
            fakes.log.append((FIRE_WAKEUP.name, request))
            fakes.run_ids.append(activity.info().workflow_run_id or "")
            return FireWakeupReply(event_id=f"sevt-{request.wakeup_id}")

        @activity.defn(name=FIRE_DEPLOYMENT.name)
        async def fire_deployment(request: FireDeploymentRequest) -> FireDeploymentReply:
            fakes.log.append((FIRE_DEPLOYMENT.name, request))
            return FireDeploymentReply(run_id="drun_fake", session_id="sesn_fake")

        return [fire_wakeup, fire_deployment]

    def activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name=BEGIN_RUN.name)
        async def begin_run(request: BeginRunRequest) -> BeginRunReply:
            fakes.log.append((BEGIN_RUN.name, request))
            return fakes.begin

        @activity.defn(name=MODEL_STEP.name)
        async def model_step(request: ModelStepRequest) -> ModelStepReply:
            return await fakes.model_step(request)

        @activity.defn(name=PROVISION_SANDBOX.name)
        async def provision_sandbox(request: ProvisionRequest) -> SandboxHandle:
            fakes.log.append((PROVISION_SANDBOX.name, request))
            if fakes.provision is not None:
                return fakes.provision(request)
            return SandboxHandle(
                session_id=request.spec.session_id,
                host="fake-host",
                task_queue=fakes.host_queue,
                backend="bwrap",
                generation=request.generation,
            )

        @activity.defn(name=RUN_TOOL.name)
        async def run_tool(request: ToolCallRequest) -> ToolCallReply:
            fakes.log.append((RUN_TOOL.name, request))
            return await simulate(request)

        async def simulate(request: ToolCallRequest) -> ToolCallReply:
            run = ToolRun(request.tool_use.name, request.tool_use.event_id, time.monotonic())
            fakes.tool_runs.append(run)
            deadline = run.started + fakes.tool_seconds.get(request.tool_use.name, 0.0)
            try:
                while time.monotonic() < deadline:
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                run.cancelled = True
                raise
            finally:
                run.ended = time.monotonic()
            return ToolCallReply(is_error=False)

        def bookkeeping(name: str, request_type: type[Any]) -> Callable[..., Any]:
            async def record(request: Any) -> None:
                fakes.log.append((name, request))

            record.__annotations__ = {"request": request_type, "return": None}
            return activity.defn(name=name)(record)

        return [
            begin_run,
            model_step,
            provision_sandbox,
            run_tool,
            *self._mcp_activities(simulate),
            *self._fire_activities(),
            bookkeeping(FINISH_TURN.name, FinishTurnRequest),
            bookkeeping(RESUME_TURN.name, ResumeRequest),
            bookkeeping(ACKNOWLEDGE_EVENTS.name, AcknowledgeRequest),
            bookkeeping(RECORD_TOOL_RESULTS.name, RecordResultsRequest),
            bookkeeping(NOTE_SANDBOX_RESET.name, SandboxNotice),
            bookkeeping(DESTROY_SANDBOX.name, DestroyRequest),
        ]


assert {d.name for d in DECLARED} == {
    BEGIN_RUN.name,
    MODEL_STEP.name,
    PROVISION_SANDBOX.name,
    RUN_TOOL.name,
    RUN_MCP_TOOL.name,
    PROBE_CREDENTIAL.name,
    FINISH_TURN.name,
    RESUME_TURN.name,
    ACKNOWLEDGE_EVENTS.name,
    RECORD_TOOL_RESULTS.name,
    NOTE_SANDBOX_RESET.name,
    DESTROY_SANDBOX.name,
    FIRE_WAKEUP.name,
    FIRE_DEPLOYMENT.name,
}, "a declaration has no fake here"


# Only pydantic passes through (its re-import is slow, and it is not workflow code).
STRICT_SANDBOX = SandboxRestrictions.default.with_passthrough_modules("pydantic", "pydantic_core")


@asynccontextmanager
async def running(client: Client, fakes: Fakes, host_polled: bool = True) -> AsyncIterator[str]:
    """Workers for the session queue (and the fake sandbox host's queue unless ``host_polled`` is False)."""
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    activities = fakes.activities()
    shared = Worker(
        client,
        task_queue=queue,
        workflows=[SessionWorkflow],
        activities=activities,
        # The default sandbox, which re-imports the workflow's modules for every run and checks what they touch: the
        # worker shares them with every run (workers.main.WORKER_SANDBOX), so the check happens here instead.
        workflow_runner=SandboxedWorkflowRunner(restrictions=STRICT_SANDBOX),
    )
    async with shared:
        if not host_polled:
            yield queue
            return
        async with Worker(client, task_queue=fakes.host_queue, activities=activities):
            yield queue


async def start_session(
    client: Client,
    queue: str,
    delivery: Delivery,
    *,
    reconcile: bool = False,
    session_id: str | None = None,
    turns_per_run: int = 200,
) -> WorkflowHandle[SessionWorkflow, None]:
    session_id = session_id or f"sesn_wf{uuid.uuid4().hex[:12]}"
    start = SessionStart(
        session_id=session_id,
        agent_id="agent_x",
        model="fake",
        reconcile=reconcile,
        continue_as_new_after_turns=turns_per_run,
    )
    return await client.start_workflow(
        SessionWorkflow.run,
        start,
        id=session_id,
        task_queue=queue,
        start_signal="deliver",
        start_signal_args=[delivery],
        static_summary="fake agent · a title",
    )


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
