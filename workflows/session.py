"""``SessionWorkflow``: one per session (workflow id = session id), holding only control state (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.contracts import (
    Delivery,
    FinishTurnRequest,
    ModelStepReply,
    ModelStepRequest,
    SessionCarry,
    SessionStart,
    Shutdown,
    StopReason,
    ToolBatchRequest,
)

AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SESSION_STATUS = SearchAttributeKey.for_keyword("SessionStatus")

MODEL_STEP_TIMEOUT = timedelta(minutes=10)
# A killed worker is noticed after this long without a heartbeat; the activity heartbeats every second.
MODEL_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
TOOLS_TIMEOUT = timedelta(minutes=10)
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


@workflow.defn
class SessionWorkflow:
    """Waits for user messages and runs one turn per batch: model → tools → model … until the model ends the turn."""

    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        # State comes from the input here, before any signal handler runs (signals may arrive with the start).
        self._carry: SessionCarry = start.carry.model_copy(deep=True)
        self._closing: str | None = None
        self._status = "idle"

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        turns_this_run = 0
        while True:
            await workflow.wait_condition(lambda: bool(self._carry.inbox) or self._closing is not None)
            if self._closing is not None:
                break
            batch, self._carry.inbox = self._carry.inbox, []
            await self._run_turn(start, batch)
            turns_this_run += 1
            if self._should_continue_as_new(start, turns_this_run):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"carry": self._carry}))
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.signal
    def deliver(self, delivery: Delivery) -> None:
        known = set(self._carry.inbox)
        self._carry.inbox.extend(event_id for event_id in delivery.message_ids if event_id not in known)

    @workflow.signal
    def shutdown(self, shutdown: Shutdown) -> None:
        self._closing = shutdown.reason

    @workflow.query
    def status(self) -> str:
        """Debugging aid only: clients read the DB."""
        return self._status

    def _should_continue_as_new(self, start: SessionStart, turns_this_run: int) -> bool:
        if self._closing is not None:
            return False
        return workflow.info().is_continue_as_new_suggested() or turns_this_run >= start.continue_as_new_after_turns

    def _next_step(self) -> int:
        self._carry.step += 1
        return self._carry.step

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            workflow.upsert_search_attributes([SESSION_STATUS.value_set(status)])  # pyright: ignore[reportUnknownMemberType] - overloaded with an untyped legacy form

    async def _run_turn(self, start: SessionStart, batch: list[str]) -> None:
        self._set_status("running")
        self._carry.turns += 1
        starting = batch
        while True:
            step = self._next_step()
            try:
                reply = await workflow.execute_activity(
                    "model_step",
                    ModelStepRequest(
                        session_id=start.session_id,
                        step=step,
                        mark_processed=starting,
                        max_attempts=start.model_max_attempts,
                    ),
                    result_type=ModelStepReply,
                    start_to_close_timeout=MODEL_STEP_TIMEOUT,
                    heartbeat_timeout=MODEL_HEARTBEAT_TIMEOUT,
                    retry_policy=model_retry(start.model_max_attempts),
                )
            except ActivityError as err:
                await self._finish(start, "retries_exhausted", err, dropped=starting)
                return
            starting = []
            if reply.finished:
                break
            if reply.tool_uses:
                await self._run_tools(start, reply)
                continue
            await self._finish(start, "end_turn", None)
            break
        self._set_status("idle")

    async def _run_tools(self, start: SessionStart, reply: ModelStepReply) -> None:
        await workflow.execute_activity(
            "run_tools",
            ToolBatchRequest(session_id=start.session_id, step=self._next_step(), tool_uses=reply.tool_uses),
            start_to_close_timeout=TOOLS_TIMEOUT,
            heartbeat_timeout=MODEL_HEARTBEAT_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )

    async def _finish(
        self, start: SessionStart, stop_reason: StopReason, err: ActivityError | None, dropped: list[str] | None = None
    ) -> None:
        cause = err.cause if err is not None else None
        error_type = cause.type if isinstance(cause, ApplicationError) else None
        await workflow.execute_activity(
            "finish_turn",
            FinishTurnRequest(
                session_id=start.session_id,
                step=self._next_step(),
                stop_reason=stop_reason,
                error_type=error_type or ("model_request_failed_error" if err is not None else None),
                error_message=str(cause or err) if err is not None else None,
                drop_event_ids=[*(dropped or []), *self._drain_inbox(stop_reason)],
            ),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._set_status("idle")

    def _drain_inbox(self, stop_reason: StopReason) -> list[str]:
        """Exhausted retries drop queued input (API_CONTRACT.md §3.4); other endings keep it for the next turn."""
        if stop_reason != "retries_exhausted":
            return []
        dropped, self._carry.inbox = self._carry.inbox, []
        return dropped
