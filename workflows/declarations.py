"""Every activity a workflow calls, declared once: its name, request and reply types, and default options.

Workflows call activities only through these declarations (``MODEL_STEP.start(request, summary=...)``), so pyright
checks every call's argument and result; ``activities/`` implements each one with ``@DECL.implement`` on a method of
the same signature, and ``workers/`` registers the implementations, which a test compares with ``DECLARED``. Nothing
here imports activity code: ``workflows/`` stays free of side effects (STYLE.md §1, §2).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.contracts import (
    AcknowledgeRequest,
    BeginRunReply,
    BeginRunRequest,
    CredentialProbe,
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
    ToolCallReply,
    ToolCallRequest,
)

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT")
OwnerT = TypeVar("OwnerT")

# Bookkeeping writes take milliseconds; a short limit means a worker dying mid-write is noticed quickly.
BOOKKEEPING_TIMEOUT = timedelta(seconds=10)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# A killed worker is noticed after this long without a heartbeat; activities heartbeat several times a second.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
MODEL_STEP_TIMEOUT = timedelta(minutes=10)
# A local activity's retry waits in the worker below this backoff and on a workflow timer above it; every model retry
# waits at least a second, so all of them wait on timers and the workflow hears signals meanwhile.
LOCAL_RETRY_THRESHOLD = timedelta(milliseconds=1)
TOOLS_TIMEOUT = timedelta(minutes=15)
TOOL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
PROVISION_TIMEOUT = timedelta(minutes=5)
PROVISION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
DESTROY_RETRY = RetryPolicy(maximum_attempts=3)
# MCP calls: a server that cannot be reached is tried again with backoff for about a minute; a tool's own error
# result is a normal result, and authentication failures are not retried (the activity marks them non-retryable).
MCP_TOOL_TIMEOUT = timedelta(minutes=15)
MCP_TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=15),
    maximum_attempts=6,
)
PROBE_TIMEOUT = timedelta(seconds=60)
PROBE_RETRY = RetryPolicy(maximum_attempts=1)
# A fire writes a few rows and sends one signal; a killed worker's fire is retried after a heartbeat timeout.
FIRE_TIMEOUT = timedelta(seconds=30)
# A sandbox host that does not pick up its queue within this long is taken for gone.
SANDBOX_SCHEDULE_TO_START = timedelta(seconds=10)

Implementation = Callable[[OwnerT, RequestT], Coroutine[Any, Any, ReplyT]]
# Where ``implement`` records the declaration on a method, so the worker's registrations can be checked against it.
DECLARATION_ATTRIBUTE = "__dma_activity__"


@dataclass(frozen=True)
class ActivityDef(Generic[RequestT, ReplyT]):
    """One activity: what it is called, what it takes and returns, and how long and how often it may run."""

    name: str
    request: type[RequestT]
    reply: type[ReplyT]
    start_to_close: timedelta
    heartbeat: timedelta | None = None
    retry: RetryPolicy = field(default_factory=lambda: BOOKKEEPING_RETRY)

    def start(
        self,
        request: RequestT,
        *,
        summary: str,
        task_queue: str | None = None,
        schedule_to_start: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> workflow.ActivityHandle[ReplyT]:
        """Schedule the activity from workflow code; ``summary`` is the one line the Temporal UI shows for it."""
        return workflow.start_activity(
            self.name,
            request,
            result_type=None if self.reply is type(None) else self.reply,
            task_queue=task_queue,
            schedule_to_start_timeout=schedule_to_start,
            start_to_close_timeout=self.start_to_close,
            heartbeat_timeout=self.heartbeat,
            retry_policy=retry or self.retry,
            # An interrupt cancels through the heartbeat; waiting for the activity to acknowledge means its cleanup
            # (closing the provider stream, killing the sandbox process) is done before the workflow moves on.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=summary[:200],
        )

    def start_local(
        self, request: RequestT, *, summary: str, retry: RetryPolicy | None = None
    ) -> workflow.ActivityHandle[ReplyT]:
        """Run the activity in this worker as a local activity: no task-queue round trip, no history events of its own.

        The workflow task stays open while it runs (the SDK heartbeats it), so a dead worker is noticed when that task
        times out and the next worker runs the attempt again from its first number; an implementation must not take
        its attempt number for a unique identity (``model_step`` takes the larger of it and what its log recorded).
        Every retry waits on a workflow timer rather than in the worker, so signals (an interrupt) still arrive
        between attempts.
        """
        return workflow.start_local_activity(
            self.name,
            request,
            result_type=None if self.reply is type(None) else self.reply,
            start_to_close_timeout=self.start_to_close,
            retry_policy=retry or self.retry,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=summary[:200],
        )

    async def run(
        self,
        request: RequestT,
        *,
        summary: str,
        task_queue: str | None = None,
        schedule_to_start: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> ReplyT:
        """Schedule the activity and wait for its reply."""
        handle = self.start(
            request, summary=summary, task_queue=task_queue, schedule_to_start=schedule_to_start, retry=retry
        )
        return await handle

    def implement(self, method: Implementation[OwnerT, RequestT, ReplyT]) -> Implementation[OwnerT, RequestT, ReplyT]:
        """Mark an activity method as this declaration's implementation (pyright checks its signature)."""
        setattr(method, DECLARATION_ATTRIBUTE, self)
        return activity.defn(name=self.name)(method)


def _bookkeeping(name: str, request: type[RequestT]) -> ActivityDef[RequestT, None]:
    return ActivityDef(name, request, type(None), BOOKKEEPING_TIMEOUT)


BEGIN_RUN = ActivityDef("begin_run", BeginRunRequest, BeginRunReply, BOOKKEEPING_TIMEOUT)
MODEL_STEP = ActivityDef("model_step", ModelStepRequest, ModelStepReply, MODEL_STEP_TIMEOUT, HEARTBEAT_TIMEOUT)
FINISH_TURN = _bookkeeping("finish_turn", FinishTurnRequest)
RESUME_TURN = _bookkeeping("resume_turn", ResumeRequest)
ACKNOWLEDGE_EVENTS = _bookkeeping("acknowledge_events", AcknowledgeRequest)
RECORD_TOOL_RESULTS = _bookkeeping("record_tool_results", RecordResultsRequest)
NOTE_SANDBOX_RESET = _bookkeeping("note_sandbox_reset", SandboxNotice)
PROVISION_SANDBOX = ActivityDef(
    "provision_sandbox", ProvisionRequest, SandboxHandle, PROVISION_TIMEOUT, PROVISION_TIMEOUT, PROVISION_RETRY
)
RUN_TOOL = ActivityDef("run_tool", ToolCallRequest, ToolCallReply, TOOLS_TIMEOUT, HEARTBEAT_TIMEOUT, TOOL_RETRY)
RUN_MCP_TOOL = ActivityDef(
    "run_mcp_tool", ToolCallRequest, ToolCallReply, MCP_TOOL_TIMEOUT, HEARTBEAT_TIMEOUT, MCP_TOOL_RETRY
)
PROBE_CREDENTIAL = ActivityDef(
    "probe_credential", CredentialProbe, ProbeReply, PROBE_TIMEOUT, HEARTBEAT_TIMEOUT, PROBE_RETRY
)
DESTROY_SANDBOX = ActivityDef("destroy_sandbox", DestroyRequest, type(None), BOOKKEEPING_TIMEOUT, None, DESTROY_RETRY)
FIRE_DEPLOYMENT = ActivityDef(
    "fire_deployment", FireDeploymentRequest, FireDeploymentReply, FIRE_TIMEOUT, HEARTBEAT_TIMEOUT
)
FIRE_WAKEUP = ActivityDef("fire_wakeup", FireWakeupRequest, FireWakeupReply, FIRE_TIMEOUT, HEARTBEAT_TIMEOUT)

# Every declaration above; the worker must register exactly these names (tests/workflows/test_boundary.py).
DECLARED: tuple[ActivityDef[Any, Any], ...] = (
    BEGIN_RUN,
    MODEL_STEP,
    FINISH_TURN,
    RESUME_TURN,
    ACKNOWLEDGE_EVENTS,
    RECORD_TOOL_RESULTS,
    NOTE_SANDBOX_RESET,
    PROVISION_SANDBOX,
    RUN_TOOL,
    RUN_MCP_TOOL,
    PROBE_CREDENTIAL,
    DESTROY_SANDBOX,
    FIRE_DEPLOYMENT,
    FIRE_WAKEUP,
)
