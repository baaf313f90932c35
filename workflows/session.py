"""``SessionWorkflow``: one per session (workflow id = session id), holding only control state (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

from workflows.contracts import (
    Answer,
    Delivery,
    FinishTurnRequest,
    ModelStepReply,
    ModelStepRequest,
    ResumeRequest,
    SessionCarry,
    SessionStart,
    Shutdown,
    StopReason,
    ToolUseRef,
)
from workflows.session_base import HEARTBEAT_TIMEOUT, Interrupted
from workflows.session_tools import SandboxedTools

AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SESSION_STATUS = SearchAttributeKey.for_keyword("SessionStatus")

MODEL_STEP_TIMEOUT = timedelta(minutes=10)


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


@workflow.defn
class SessionWorkflow(SandboxedTools):
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

    def _should_continue_as_new(self, turns_this_run: int) -> bool:
        if self._closing is not None:
            return False
        suggested = workflow.info().is_continue_as_new_suggested()
        return suggested or turns_this_run >= self._start.continue_as_new_after_turns

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            workflow.upsert_search_attributes([SESSION_STATUS.value_set(status)])  # pyright: ignore[reportUnknownMemberType] - overloaded with an untyped legacy form
