"""A session's one-shot wakeups: durable timers in the session workflow (DESIGN.md §7).

The timers live in the carried state (``SessionCarry.wakeups``), so they survive worker restarts (Temporal keeps the
timer) and continue-as-new (the next run arms them again). When one is due, the ``fire_wakeup`` activity writes the
wakeup into the log as a queued ``system.message`` and delivers it to this workflow like any user message, so it starts
a turn, or waits behind the running one. The DB decides whether a wakeup still fires: one cancelled meanwhile writes
nothing.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.contracts import FireWakeupRequest, WakeupTimer
from workflows.declarations import FIRE_WAKEUP
from workflows.session_state import SessionState


class WakeupClock:
    """Sleeps until the earliest wakeup, fires what is due, and starts over whenever the set of wakeups changes."""

    def __init__(self, state: SessionState) -> None:
        self._state = state
        self._changed = False
        self._stopping = False
        self.busy = False

    def arm(self, timer: WakeupTimer) -> None:
        """Add (or move) a wakeup's timer."""
        timers = [t for t in self._state.carry.wakeups if t.wakeup_id != timer.wakeup_id]
        self._state.carry.wakeups = sorted([*timers, timer], key=lambda t: t.fire_at)
        self._changed = True

    def disarm(self, wakeup_id: str) -> None:
        """Drop a wakeup's timer (cancelled)."""
        self._state.carry.wakeups = [t for t in self._state.carry.wakeups if t.wakeup_id != wakeup_id]
        self._changed = True

    def stop(self) -> None:
        """End ``run`` at its next wait (continue-as-new: the next run arms the carried timers)."""
        self._stopping = True

    def _done(self) -> bool:
        return self._stopping or self._state.closing is not None

    async def run(self) -> None:
        """The clock's loop, as a task beside the turn loop; a timer fires even while a turn runs."""
        while not self._done():
            self._changed = False
            timers = self._state.carry.wakeups
            wait = (timers[0].fire_at - workflow.now()).total_seconds() if timers else None
            if wait is None or wait > 0:
                summary = f"wakeup {timers[0].wakeup_id}" if timers else None
                try:
                    await workflow.wait_condition(
                        lambda: self._changed or self._done(), timeout=wait, timeout_summary=summary
                    )
                except TimeoutError:
                    pass
                continue
            await self._fire(timers[0])

    async def _fire(self, timer: WakeupTimer) -> None:
        self.busy = True
        try:
            request = FireWakeupRequest(
                session_id=self._state.session_id, wakeup_id=timer.wakeup_id, scheduled_at=timer.fire_at
            )
            await FIRE_WAKEUP.run(request, summary=f"wakeup {timer.wakeup_id} fires")
        except ActivityError as err:
            # Only a non-retryable failure gets here (the session is gone); the timer is spent either way.
            workflow.logger.warning("wakeup %s could not fire: %s", timer.wakeup_id, err.cause or err)
        finally:
            self.busy = False
        self.disarm(timer.wakeup_id)


async def stop_clock(clock: WakeupClock, task: asyncio.Task[None]) -> None:
    """Let a firing wakeup finish, then end the clock's task (before continue-as-new)."""
    await workflow.wait_condition(lambda: not clock.busy)
    clock.stop()
    await task
