"""``SessionWorkflow``: one per session (workflow id = session id), holding only control state (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError
from temporalio.workflow import ActivityCancellationType

from workflows.contracts import (
    Answer,
    Delivery,
    DestroyRequest,
    FinishTurnRequest,
    ModelStepReply,
    ModelStepRequest,
    ProvisionRequest,
    RecordResultsRequest,
    ResumeRequest,
    SandboxHandle,
    SandboxNotice,
    SandboxSpec,
    SessionCarry,
    SessionStart,
    Shutdown,
    StopReason,
    ToolCallReply,
    ToolCallRequest,
    ToolUseRef,
)

ResultReason = Literal["denied", "no_executor", "sandbox_unavailable"]

AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SESSION_STATUS = SearchAttributeKey.for_keyword("SessionStatus")

MODEL_STEP_TIMEOUT = timedelta(minutes=10)
# A killed worker is noticed after this long without a heartbeat; activities heartbeat several times a second.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
TOOLS_TIMEOUT = timedelta(minutes=15)
# A sandbox host that does not pick up its queue within this long is taken for gone (DESIGN.md §5).
SANDBOX_SCHEDULE_TO_START = timedelta(seconds=10)
TOOL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
PROVISION_TIMEOUT = timedelta(minutes=5)
PROVISION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
MAX_SANDBOX_REPLACEMENTS = 2
# Tools that need no sandbox run on the shared queue, on any worker.
WORKER_TOOLS = frozenset({"web_fetch", "web_search"})
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))


def model_retry(max_attempts: int) -> RetryPolicy:
    """Temporal owns model retries; the provider client runs with ``max_retries=0``."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=max_attempts,
    )


def status_attributes(agent_id: str, status: str) -> TypedSearchAttributes:
    """The search attributes a session workflow starts with."""
    return TypedSearchAttributes([SearchAttributePair(AGENT_ID, agent_id), SearchAttributePair(SESSION_STATUS, status)])


class Interrupted(Exception):
    """The turn was cut short by ``user.interrupt`` (or the session is going away)."""


@workflow.defn
class SessionWorkflow:
    """Waits for user messages and runs one turn per batch: model → tools → model … until the model ends the turn.

    Blocking tool calls (``always_ask`` confirmations, custom tools) park the turn at ``requires_action`` until every
    answer arrives; the workflow then sleeps in Temporal, holding no process, worker slot or sandbox.
    """

    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        # State comes from the input here, before any signal handler runs (signals may arrive with the start).
        self._start = start
        self._carry: SessionCarry = start.carry.model_copy(deep=True)
        self._closing: str | None = None
        self._status = "idle"
        self._answers: dict[str, Answer] = {}

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        turns_this_run = 0
        while True:
            await workflow.wait_condition(
                lambda: bool(self._carry.inbox or self._carry.interrupts) or self._closing is not None
            )
            if self._closing is not None:
                if self._closing == "deleted":
                    await self._destroy_sandbox()
                break
            if not self._carry.inbox:
                await self._acknowledge_idle_interrupts()
                continue
            batch, self._carry.inbox = self._carry.inbox, []
            await self._run_turn(batch)
            turns_this_run += 1
            if self._should_continue_as_new(turns_this_run):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"carry": self._carry}))
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.signal
    def deliver(self, delivery: Delivery) -> None:
        known = set(self._carry.inbox)
        self._carry.inbox.extend(event_id for event_id in delivery.message_ids if event_id not in known)
        self._carry.interrupts.extend(delivery.interrupt_ids)
        for answer in delivery.answers:
            self._answers.setdefault(answer.tool_use_id, answer)

    @workflow.signal
    def shutdown(self, shutdown: Shutdown) -> None:
        self._closing = shutdown.reason

    @workflow.query
    def status(self) -> str:
        """Debugging aid only: clients read the DB."""
        return self._status

    # --- turn structure -------------------------------------------------------------------------------------

    async def _run_turn(self, batch: list[str]) -> None:
        self._set_status("running")
        self._carry.turns += 1
        self._answers.clear()
        # Interrupts that arrived while idle stopped nothing; they are acknowledged as the turn starts.
        starting = self._take_interrupts() + batch
        try:
            while True:
                reply = await self._model_step(starting)
                starting = []
                if reply is None or reply.finished:
                    break
                await self._handle_tools(reply.tool_uses)
        except Interrupted as cut:
            await self._finish("end_turn", processed=self._take_interrupts(), close=list(cut.args[0]))
        self._set_status("idle")

    async def _model_step(self, starting: list[str]) -> ModelStepReply | None:
        """One model request; None when the turn already ended (exhausted retries)."""
        request = ModelStepRequest(
            session_id=self._start.session_id,
            step=self._next_step(),
            mark_processed=starting,
            max_attempts=self._start.model_max_attempts,
        )
        try:
            reply = await self._cancellable(
                "model_step",
                request,
                ModelStepReply,
                start_to_close_timeout=MODEL_STEP_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=model_retry(self._start.model_max_attempts),
            )
        except ActivityError as err:
            dropped = starting + self._carry.inbox + self._take_interrupts()
            self._carry.inbox = []
            await self._finish("retries_exhausted", error=err, processed=dropped)
            return None
        if reply is None or (self._carry.interrupts and not reply.finished):
            raise Interrupted([use.event_id for use in reply.tool_uses] if reply else [])
        return reply

    async def _handle_tools(self, uses: list[ToolUseRef]) -> None:
        """Run what may run, record denials, and wait for people where a call needs them."""
        denied = [use for use in uses if use.kind != "custom" and use.permission == "deny"]
        runnable = [use for use in uses if use.kind == "builtin" and use.permission == "allow"]
        blocking = [use for use in uses if use.blocking]
        if denied:
            await self._record_results(denied, "denied")
        if runnable:
            await self._run_tools(runnable, cut_off=blocking)
        if blocking:
            answers = await self._wait_for_answers(blocking)
            self._set_status("running")
            await self._bookkeeping(
                "resume_turn",
                ResumeRequest(
                    session_id=self._start.session_id,
                    step=self._next_step(),
                    answer_ids=[answer.event_id for answer in answers],
                ),
            )
            confirmed = {answer.tool_use_id for answer in answers if answer.allow}
            allowed = [use for use in blocking if use.kind == "builtin" and use.event_id in confirmed]
            if allowed:
                await self._run_tools(allowed, cut_off=[])

    async def _wait_for_answers(self, blocking: list[ToolUseRef]) -> list[Answer]:
        """Go idle with ``requires_action`` and collect an answer per blocking call (re-announcing the rest)."""
        pending = [use.event_id for use in blocking]
        await self._finish("requires_action", blocking=pending)
        seen: set[str] = set()
        while True:
            await workflow.wait_condition(
                lambda: (
                    any(i in self._answers and i not in seen for i in pending)
                    or bool(self._carry.interrupts)
                    or self._closing is not None
                )
            )
            if self._carry.interrupts or self._closing is not None:
                raise Interrupted([i for i in pending if i not in self._answers or self._answers[i].allow])
            fresh = [self._answers[i].event_id for i in pending if i in self._answers and i not in seen]
            seen.update(i for i in pending if i in self._answers)
            remaining = [i for i in pending if i not in seen]
            if not remaining:
                return [self._answers[i] for i in pending]
            await self._finish("requires_action", processed=fresh, blocking=remaining)

    async def _run_tools(self, uses: list[ToolUseRef], cut_off: list[ToolUseRef]) -> None:
        """Run the calls concurrently: sandbox tools on the host that owns the sandbox, web tools anywhere.

        A host that stopped serving its queue (schedule-to-start timeout) is replaced by a new sandbox elsewhere,
        which the log records, and the lost calls run again there.
        """
        step = self._next_step()
        pending = list(uses)
        for _ in range(MAX_SANDBOX_REPLACEMENTS + 1):
            if any(use.name not in WORKER_TOOLS for use in pending) and not await self._ensure_sandbox(pending):
                return
            lost = await self._run_batch(pending, step, cut_off)
            if not lost:
                return
            await self._replace_sandbox()
            pending = lost
        await self._record_results(pending, "sandbox_unavailable", "the sandbox host kept disappearing")

    async def _run_batch(self, uses: list[ToolUseRef], step: int, cut_off: list[ToolUseRef]) -> list[ToolUseRef]:
        """Run one round of calls; returns the calls whose host was lost."""
        handles = [(use, self._start_tool(use, step)) for use in uses]
        await workflow.wait_condition(lambda: all(h.done() for _, h in handles) or bool(self._carry.interrupts))
        for _, handle in handles:
            if not handle.done():
                handle.cancel()
        lost: list[ToolUseRef] = []
        cancelled: list[str] = []
        for use, handle in handles:
            try:
                await handle
            except ActivityError as err:
                if isinstance(err.cause, CancelledError):
                    cancelled.append(use.event_id)
                elif isinstance(err.cause, TimeoutError) and use.name not in WORKER_TOOLS:
                    lost.append(use)
                else:
                    await self._record_results([use], "sandbox_unavailable", str(err.cause or err))
        if self._carry.interrupts:
            raise Interrupted(cancelled + [use.event_id for use in lost + cut_off])
        return lost

    def _start_tool(self, use: ToolUseRef, step: int) -> workflow.ActivityHandle[ToolCallReply]:
        sandbox = self._carry.sandbox if use.name not in WORKER_TOOLS else None
        return workflow.start_activity(
            "run_tool",
            ToolCallRequest(session_id=self._start.session_id, step=step, tool_use=use, handle=sandbox),
            result_type=ToolCallReply,
            task_queue=sandbox.task_queue if sandbox is not None else None,
            schedule_to_start_timeout=SANDBOX_SCHEDULE_TO_START if sandbox is not None else None,
            start_to_close_timeout=TOOLS_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=TOOL_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _ensure_sandbox(self, uses: list[ToolUseRef]) -> bool:
        """Provision the session's sandbox on some worker host, once; False (calls answered) if that fails."""
        if self._carry.sandbox is not None:
            return True
        try:
            self._carry.sandbox = await self._provision(generation=1)
        except ActivityError as err:
            await self._record_results(uses, "sandbox_unavailable", str(err.cause or err))
            return False
        return True

    async def _provision(self, generation: int) -> SandboxHandle:
        return await workflow.execute_activity(
            "provision_sandbox",
            ProvisionRequest(spec=self._sandbox_spec(), generation=generation),
            result_type=SandboxHandle,
            start_to_close_timeout=PROVISION_TIMEOUT,
            heartbeat_timeout=PROVISION_TIMEOUT,
            retry_policy=PROVISION_RETRY,
        )

    async def _replace_sandbox(self) -> None:
        lost = self._carry.sandbox
        self._carry.sandbox = None
        handle = await self._provision(generation=(lost.generation + 1) if lost else 1)
        self._carry.sandbox = handle
        notice = SandboxNotice(
            session_id=self._start.session_id,
            step=self._next_step(),
            lost_host=lost.host if lost else "",
            new_host=handle.host,
            workspace_restored=handle.workspace_restored,
        )
        await self._bookkeeping("note_sandbox_reset", notice)

    def _sandbox_spec(self) -> SandboxSpec:
        return self._start.sandbox or SandboxSpec(session_id=self._start.session_id)

    async def _destroy_sandbox(self) -> None:
        """Best effort: a deleted session's workspace goes with it (a lost host took it already)."""
        sandbox = self._carry.sandbox
        if sandbox is None:
            return
        try:
            await workflow.execute_activity(
                "destroy_sandbox",
                DestroyRequest(session_id=self._start.session_id),
                task_queue=sandbox.task_queue,
                schedule_to_start_timeout=SANDBOX_SCHEDULE_TO_START,
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            workflow.logger.warning("could not destroy the sandbox of session %s", self._start.session_id)

    # --- activities -----------------------------------------------------------------------------------------

    async def _cancellable(self, activity: str, arg: Any, result_type: type[Any], **options: Any) -> Any:
        """Run an activity that ``user.interrupt`` cancels (delivered through its heartbeat); None if cancelled."""
        handle = workflow.start_activity(
            activity,
            arg,
            result_type=result_type,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            **options,
        )
        await workflow.wait_condition(lambda: handle.done() or bool(self._carry.interrupts))
        if not handle.done():
            handle.cancel()
        try:
            return await handle
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                return None
            raise

    async def _bookkeeping(self, activity: str, arg: Any) -> None:
        await workflow.execute_activity(
            activity, arg, start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=BOOKKEEPING_RETRY
        )

    async def _record_results(self, uses: list[ToolUseRef], reason: ResultReason, message: str | None = None) -> None:
        request = RecordResultsRequest(
            session_id=self._start.session_id, step=self._next_step(), tool_uses=uses, reason=reason, message=message
        )
        await self._bookkeeping("record_tool_results", request)

    async def _finish(
        self,
        stop_reason: StopReason,
        *,
        error: ActivityError | None = None,
        processed: list[str] | None = None,
        close: list[str] | None = None,
        blocking: list[str] | None = None,
    ) -> None:
        cause = error.cause if error is not None else None
        error_type = cause.type if isinstance(cause, ApplicationError) else None
        request = FinishTurnRequest(
            session_id=self._start.session_id,
            step=self._next_step(),
            stop_reason=stop_reason,
            error_type=error_type or ("model_request_failed_error" if error is not None else None),
            error_message=str(cause or error) if error is not None else None,
            processed_ids=processed or [],
            close_tool_use_ids=close or [],
            blocking_ids=blocking or [],
        )
        await self._bookkeeping("finish_turn", request)
        self._set_status("idle")

    async def _acknowledge_idle_interrupts(self) -> None:
        """An interrupt on an idle session does nothing but become processed."""
        await self._bookkeeping(
            "acknowledge_events",
            ResumeRequest(
                session_id=self._start.session_id, step=self._next_step(), answer_ids=self._take_interrupts()
            ),
        )

    # --- small state helpers --------------------------------------------------------------------------------

    def _take_interrupts(self) -> list[str]:
        taken, self._carry.interrupts = self._carry.interrupts, []
        return taken

    def _should_continue_as_new(self, turns_this_run: int) -> bool:
        if self._closing is not None:
            return False
        suggested = workflow.info().is_continue_as_new_suggested()
        return suggested or turns_this_run >= self._start.continue_as_new_after_turns

    def _next_step(self) -> int:
        self._carry.step += 1
        return self._carry.step

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            workflow.upsert_search_attributes([SESSION_STATUS.value_set(status)])  # pyright: ignore[reportUnknownMemberType] - overloaded with an untyped legacy form
