"""The Temporal side of self-wakeups (``dma.wakeups.WakeupTemporal``).

One-shot wakeups are timers in the session's workflow, a recurring one is a Temporal Schedule. Used by the API and by
activities alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from dma.cron import parse_cron
from dma.schemas.common import UnavailableError
from workflows import schedule_entry, session_entry
from workflows.contracts import WakeupCancel, WakeupTimer
from workflows.schedule_entry import Recurrence
from workflows.session_entry import SessionFacts, SessionLaunch


def recurrence_of(stored: dict[str, Any]) -> Recurrence:
    """The schedule spec of a recurring wakeup as stored on its row."""
    if stored.get("type") == "interval":
        return Recurrence(every=timedelta(seconds=int(stored["every_seconds"])))
    parsed = parse_cron(str(stored["expression"]), str(stored["timezone"]))
    return Recurrence(cron=parsed.temporal_expression, timezone=parsed.timezone)


# A wakeup belongs to one session, so its fires need no spreading out: it fires on time.
WAKEUP_JITTER = timedelta(0)


class TemporalWakeups:
    """Arms, disarms, schedules and unschedules wakeups; Temporal failures become ``UnavailableError`` (503)."""

    def __init__(self, temporal: Client, launch: SessionLaunch) -> None:
        self._temporal = temporal
        self._launch = launch

    async def arm(self, session: SessionFacts, wakeup_id: str, fire_at: datetime) -> None:
        timer = WakeupTimer(wakeup_id=wakeup_id, fire_at=fire_at)
        try:
            signal = session_entry.ARM_WAKEUP_SIGNAL
            await session_entry.signal_with_start(self._temporal, self._launch, session, signal, timer)
        except RPCError as err:
            raise UnavailableError("the workflow service") from err

    async def disarm(self, session_id: str, wakeup_id: str) -> None:
        try:
            cancel = WakeupCancel(wakeup_id=wakeup_id)
            await session_entry.signal_if_running(
                self._temporal, session_id, session_entry.CANCEL_WAKEUP_SIGNAL, cancel
            )
        except RPCError as err:
            raise UnavailableError("the workflow service") from err

    async def schedule(self, session: SessionFacts, wakeup_id: str, recurrence: dict[str, Any]) -> None:
        spec = recurrence_of(recurrence)
        schedule = schedule_entry.wakeup_schedule(
            session.id, wakeup_id, spec, task_queue=self._launch.task_queue, jitter=WAKEUP_JITTER
        )
        try:
            await schedule_entry.put_wakeup_schedule(self._temporal, session.id, wakeup_id, schedule)
        except RPCError as err:
            raise UnavailableError("the workflow service") from err

    async def unschedule(self, session_id: str, wakeup_id: str) -> None:
        try:
            await schedule_entry.delete_schedule(
                self._temporal, schedule_entry.wakeup_schedule_id(session_id, wakeup_id)
            )
        except RPCError as err:
            raise UnavailableError("the workflow service") from err
