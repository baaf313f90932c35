"""``SessionWorkflow``: one per session (workflow id = session id), holding only control state (DESIGN.md §3)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, FailureError

from workflows.contracts import (
    INTERRUPTED_ON_BUS,
    MAX_MODEL_CHAIN,
    Answer,
    Delivery,
    ModelStepReply,
    ModelStepRequest,
    SessionStart,
    Shutdown,
    ToolUseRef,
    WakeupCancel,
    WakeupTimer,
)
from workflows.declarations import MODEL_STEP
from workflows.session_ledger import Ledger
from workflows.session_state import Interrupted, SessionState, TurnFailed, status_attributes
from workflows.session_tools import ToolRunner
from workflows.session_wakeups import WakeupClock, stop_clock

__all__ = ["SessionWorkflow", "status_attributes"]

# The model step runs as a local activity (``ActivityDef.start_local``): per turn, one workflow task and its round
# trips fewer, and no activity events in history (docs/performance.md "Sixth pass").
LOCAL_MODEL_STEP = "model-step-local-activity"


def model_retry(max_attempts: int) -> RetryPolicy:
    """Temporal owns model retries; the provider client runs with ``max_retries=0``.

    ``max_attempts`` is per model: the activity picks the model by attempt number (fallbacks after the model's
    attempts), sets each retry's delay and says when the chain is exhausted, so this only has to allow the longest
    chain.
    """
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=max_attempts * MAX_MODEL_CHAIN,
    )


@workflow.defn
class SessionWorkflow:
    """Waits for user messages and runs one turn per batch: model → tools → model … until the model ends the turn.

    Blocking tool calls (``always_ask`` confirmations, custom tools) park the turn at ``requires_action`` until every
    answer arrives; the workflow then sleeps in Temporal, holding no process, worker slot or sandbox.
    """

    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        # State comes from the input here, before any signal handler runs (signals may arrive with the start).
        self._state = SessionState(start, start.carry.model_copy(deep=True))
        self._ledger = Ledger(self._state)
        self._tools = ToolRunner(self._state, self._ledger)
        self._clock = WakeupClock(self._state)

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        state = self._state
        clock = asyncio.create_task(self._clock.run())
        blocked, paused = await self._pick_up_earlier_run() if start.reconcile else ([], False)
        if blocked or paused:
            await self._run_turn([], resume=blocked, paused=paused)
        turns_this_run = 0
        while True:
            state.show("a message")
            await workflow.wait_condition(
                lambda: bool(state.carry.inbox or state.carry.interrupts) or state.closing is not None
            )
            if state.closing is not None:
                if state.closing == "deleted":
                    await self._tools.destroy_sandbox()
                break
            if not state.carry.inbox:
                await self._ledger.acknowledge(state.take_interrupts())
                continue
            await self._run_turn(state.take_inbox())
            turns_this_run += 1
            if self._should_continue_as_new(turns_this_run):
                await stop_clock(self._clock, clock)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"carry": state.carry, "reconcile": False}))
        await clock
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.signal
    def deliver(self, delivery: Delivery) -> None:
        self._state.deliver_messages(delivery.message_ids)
        self._state.deliver_interrupts(delivery.interrupt_ids)
        for answer in delivery.answers:
            self._state.answers.setdefault(answer.tool_use_id, answer)
        if delivery.budget_changed:
            self._state.budget_raised = True

    @workflow.signal
    def shutdown(self, shutdown: Shutdown) -> None:
        self._state.closing = shutdown.reason

    @workflow.signal
    def arm_wakeup(self, timer: WakeupTimer) -> None:
        self._clock.arm(timer)

    @workflow.signal
    def cancel_wakeup(self, cancel: WakeupCancel) -> None:
        self._clock.disarm(cancel.wakeup_id)

    @workflow.query
    def status(self) -> str:
        """Debugging aid only: clients read the DB."""
        return self._state.status

    # --- turn structure -------------------------------------------------------------------------------------

    async def _pick_up_earlier_run(self) -> tuple[list[ToolUseRef], bool]:
        """A run after an abrupt end: queue what is queued.

        Returns:
            The calls still waiting for people, and whether the turn was paused at the budget.
        """
        picked = await self._ledger.begin_run()
        state = self._state
        queued = set(picked.queued_messages)
        state.carry.inbox = picked.queued_messages + [i for i in state.carry.inbox if i not in queued]
        state.deliver_interrupts(picked.queued_interrupts)
        for answer in picked.answers:
            state.answers.setdefault(answer.tool_use_id, answer)
        for timer in picked.wakeups:
            self._clock.arm(timer)
        return picked.blocking, picked.budget_paused

    async def _run_turn(self, batch: list[str], resume: list[ToolUseRef] | None = None, paused: bool = False) -> None:
        state = self._state
        state.carry.turns += 1
        began, first_step, outcome = workflow.now(), state.carry.step, "ended"
        if resume is None:
            state.answers.clear()
        state.set_status("running", "the model")
        # Interrupts that arrived while idle stopped nothing; they are acknowledged as the turn starts.
        starting = state.take_interrupts() + batch
        try:
            if resume:
                await self._handle_tools(resume, announced=True)
            go_on, resuming = not paused or await self._budget_raised(), paused
            while go_on:
                reply = await self._model_step(starting, resuming)
                starting, resuming = [], False
                if reply is None or reply.finished:
                    break
                if reply.paused:
                    go_on, resuming = await self._budget_raised(), True
                    continue
                await self._handle_tools(reply.tool_uses)
        except Interrupted as cut:
            outcome = "interrupted"
            # A batch the model never saw (its first request was cut off) is part of the interrupted turn too.
            answered = [answer.event_id for answer in state.answers.values()]
            processed = starting + state.take_interrupts() + answered
            await self._ledger.finish("end_turn", processed=processed, close=cut.close)
        except TurnFailed as failed:
            outcome = "failed"
            # As with a model request out of retries: the turn is abandoned and queued input dropped (§3.5).
            answered = [answer.event_id for answer in state.answers.values()]
            dropped = state.take_inbox() + state.take_interrupts() + answered
            message = "Not run: the turn ended because an MCP call failed for good."
            await self._ledger.finish(
                "retries_exhausted", error=failed.error, processed=dropped, close=failed.close, close_message=message
            )
        state.set_status("idle", "a message")
        # The one log line per turn a terminal shows at the quiet default (dma.cli.logs); silent on replay.
        workflow.logger.info(
            "session %s turn %s %s after %.1f s (%s steps)",
            state.session_id,
            state.carry.turns,
            outcome,
            (workflow.now() - began).total_seconds(),
            state.carry.step - first_step,
        )

    async def _budget_raised(self) -> bool:
        """Wait, idle and holding nothing, until the budget is raised or removed; False if the session goes away."""
        state = self._state
        state.set_status("idle", "a budget raise")
        await workflow.wait_condition(lambda: state.budget_raised or state.closing is not None)
        if state.closing is not None:
            return False
        state.set_status("running", "the model")
        return True

    async def _model_step(self, starting: list[str], resume: bool = False) -> ModelStepReply | None:
        """One model request; None when the turn already ended (exhausted retries, or nothing left to answer)."""
        state = self._state
        step = state.next_step()
        # A raise that arrives from here on is one this request may not have seen: it may resume a pause.
        state.budget_raised = False
        request = ModelStepRequest(
            session_id=state.session_id,
            step=step,
            mark_processed=starting,
            max_attempts=state.start.model_max_attempts,
            resume=resume,
        )
        summary = f"model {state.start.model or '(agent model)'} · turn {state.carry.turns} · step {step}"
        retry = model_retry(state.start.model_max_attempts)
        # Runs before this change ran the step as a task-queue activity; they go on doing so when replayed.
        start = MODEL_STEP.start_local if workflow.patched(LOCAL_MODEL_STEP) else MODEL_STEP.start
        handle = start(request, summary=summary, retry=retry)
        state.show(f"the model (step {step})")
        try:
            await workflow.wait_condition(lambda: handle.done() or state.interrupted)
            if not handle.done():
                handle.cancel()
            reply = await handle
        except FailureError as err:
            # A local activity's failure is its own error (``ApplicationError``, ``TimeoutError``), not wrapped in an
            # ``ActivityError`` as a task-queue activity's is; a cancellation is wrapped in both.
            if not isinstance(err.cause if isinstance(err, ActivityError) else err, CancelledError):
                dropped = starting + state.take_inbox() + state.take_interrupts()
                await self._ledger.finish("retries_exhausted", error=err, processed=dropped)
                return None
            raise Interrupted([]) from None
        if reply.unseen_messages or reply.unseen_interrupts:
            state.requeue(reply.unseen_messages, reply.unseen_interrupts)
        if reply.stop_reason == INTERRUPTED_ON_BUS and not state.interrupted:
            # The step heard the interrupt on the bus, which the API rings only after its signal was taken; a local
            # step's reply can come in the workflow task before the one that brings the signal.
            await workflow.wait_condition(lambda: state.interrupted or state.closing is not None)
            raise Interrupted([use.event_id for use in reply.tool_uses])
        if state.interrupted and not reply.finished:
            raise Interrupted([use.event_id for use in reply.tool_uses])
        return None if reply.stale else reply

    async def _handle_tools(self, uses: list[ToolUseRef], *, announced: bool = False) -> None:
        """Decide every call (policy, people), then run the allowed ones in the model's order.

        Calls before the first one that needs a person run at once; the rest wait until every person has answered.
        """
        order = [use.event_id for use in uses]
        denied = [use for use in uses if use.kind != "custom" and use.permission == "deny"]
        if denied:
            await self._ledger.record_results(denied, "denied", order=order)
        first_blocking = next((index for index, use in enumerate(uses) if use.blocking), len(uses))
        before, after = uses[:first_blocking], uses[first_blocking:]
        await self._run_allowed(before, order, close_if_cut=[use.event_id for use in after], confirmed=set())
        blocking = [use for use in after if use.blocking]
        if not blocking:
            return
        answers = await self._wait_for_answers(blocking, after, announced)
        self._state.set_status("running", "the tools")
        await self._ledger.resume(answers, order)
        confirmed = {answer.tool_use_id for answer in answers if answer.allow}
        await self._run_allowed(after, order, close_if_cut=[], confirmed=confirmed)

    async def _run_allowed(
        self, uses: list[ToolUseRef], order: list[str], close_if_cut: list[str], confirmed: set[str]
    ) -> None:
        runnable = [
            use
            for use in uses
            if use.kind in ("builtin", "mcp") and (use.permission == "allow" or use.event_id in confirmed)
        ]
        if runnable:
            await self._tools.run(runnable, order, close_if_cut)

    async def _wait_for_answers(
        self, blocking: list[ToolUseRef], rest: list[ToolUseRef], announced: bool
    ) -> list[Answer]:
        """Go idle with ``requires_action`` and collect an answer per blocking call (re-announcing the rest)."""
        state = self._state
        pending = [use.event_id for use in blocking]
        if not announced:
            await self._ledger.finish("requires_action", blocking=pending)
        state.set_status("idle", f"people: {', '.join(pending)}")
        seen: set[str] = set()
        while True:
            await workflow.wait_condition(
                lambda: (
                    any(i in state.answers and i not in seen for i in pending)
                    or state.interrupted
                    or state.closing is not None
                )
            )
            if state.interrupted or state.closing is not None:
                raise Interrupted([use.event_id for use in rest])
            fresh = [state.answers[i].event_id for i in pending if i in state.answers and i not in seen]
            seen.update(i for i in pending if i in state.answers)
            remaining = [i for i in pending if i not in seen]
            if not remaining:
                return [state.answers[i] for i in pending]
            await self._ledger.finish("requires_action", processed=fresh, blocking=remaining)
            state.show(f"people: {', '.join(remaining)}")

    def _should_continue_as_new(self, turns_this_run: int) -> bool:
        if self._state.closing is not None:
            return False
        suggested = workflow.info().is_continue_as_new_suggested()
        return suggested or turns_this_run >= self._state.start.continue_as_new_after_turns
