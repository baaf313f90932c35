"""State and small helpers every part of ``SessionWorkflow`` shares (no workflow is defined here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.contracts import RecordResultsRequest, SessionCarry, SessionStart, ToolUseRef

# Bookkeeping writes take milliseconds; a short limit means a worker dying mid-write is noticed quickly.
BOOKKEEPING_TIMEOUT = timedelta(seconds=10)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# A killed worker is noticed after this long without a heartbeat; activities heartbeat several times a second.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)

ResultReason = Literal["denied", "no_executor", "sandbox_unavailable"]


class Interrupted(Exception):
    """The turn was cut short by ``user.interrupt`` (or the session is going away); args[0] lists calls to close."""


class SessionBase:
    """The control state of a session workflow and the bookkeeping activities every step uses."""

    _start: SessionStart
    _carry: SessionCarry

    async def _bookkeeping(self, activity: str, arg: Any) -> None:
        """Run a short activity that only writes the event log."""
        await workflow.execute_activity(
            activity, arg, start_to_close_timeout=BOOKKEEPING_TIMEOUT, retry_policy=BOOKKEEPING_RETRY
        )

    async def _record_results(self, uses: list[ToolUseRef], reason: ResultReason, message: str | None = None) -> None:
        request = RecordResultsRequest(
            session_id=self._start.session_id, step=self._next_step(), tool_uses=uses, reason=reason, message=message
        )
        await self._bookkeeping("record_tool_results", request)

    def _take_interrupts(self) -> list[str]:
        taken, self._carry.interrupts = self._carry.interrupts, []
        return taken

    def _next_step(self) -> int:
        self._carry.step += 1
        return self._carry.step
