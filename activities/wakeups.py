"""The ``fire_wakeup`` activity: a due wakeup becomes a queued ``system.message`` and a delivery, like a user message.

The event goes into the session's log with ``processed_at`` null and its id reaches the workflow by signal-with-start
(DESIGN.md §3, §7), so it starts a turn or waits behind the running one.

Used by both kinds: the session workflow's own timer (one-shot) and a recurring wakeup's schedule. The event's id
derives from the wakeup and the fire's time, so a retried attempt writes nothing twice and delivers the same id (the
workflow drops ids it has taken). A cancelled wakeup, or one whose session is archived or gone, writes nothing; a
recurring one then deletes its own schedule.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client

from activities.heartbeat import heartbeating
from dma.bus import Bus, BusMessage
from dma.clock import rfc3339, utcnow
from dma.ids import event_id
from dma.store import events as log
from dma.store import wakeups as store
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session, Wakeup
from dma.wakeups import wakeup_text
from workflows import schedule_entry, session_entry
from workflows.contracts import Delivery, FireWakeupReply, FireWakeupRequest
from workflows.declarations import FIRE_WAKEUP
from workflows.session_entry import SessionLaunch


def wakeup_event_id(wakeup_id: str, scheduled_at: datetime) -> str:
    """The id of the event one firing of a wakeup writes."""
    return event_id(wakeup_id, "wakeup", 0, rfc3339(scheduled_at) or "")


async def _record(db: AsyncSession, session: Session, wakeup: Wakeup, scheduled_at: datetime) -> str:
    """Queue the wakeup's ``system.message`` (once per firing) and count the firing."""
    ident = wakeup_event_id(wakeup.id, scheduled_at)
    if await log.by_ids(db, session.id, [ident]):
        return ident
    content = [{"type": "text", "text": wakeup_text(wakeup, scheduled_at)}]
    await log.insert_user_events(db, session.id, [NewEvent(ident, "system.message", {"content": content})])
    now = utcnow()
    wakeup.fire_count += 1
    wakeup.last_fired_at = wakeup.updated_at = now
    if wakeup.kind == "once":
        wakeup.status = "fired"
    db.add(wakeup)
    return ident


class WakeupActivities:
    """Fires wakeups; the worker builds one instance with its DB, bus and Temporal client."""

    def __init__(self, db: Database, bus: Bus, temporal: Client, launch: SessionLaunch) -> None:
        self._db = db
        self._bus = bus
        self._temporal = temporal
        self._launch = launch

    @FIRE_WAKEUP.implement
    async def fire_wakeup(self, request: FireWakeupRequest) -> FireWakeupReply:
        """Write the wakeup into the log and deliver it; nothing when it was cancelled or its session is gone."""
        async with heartbeating():
            async with self._db.write() as db:
                session = await log.lock_session(db, request.session_id)
                wakeup = await store.get(db, request.session_id, request.wakeup_id)
                if wakeup is None or session is None or session.archived_at is not None:
                    return await self._retire(request, wakeup, db)
                known = await log.by_ids(db, session.id, [wakeup_event_id(wakeup.id, request.scheduled_at)])
                if wakeup.status != "pending" and not known:
                    return FireWakeupReply()
                ident = await _record(db, session, wakeup, request.scheduled_at)
            await session_entry.deliver(self._temporal, self._launch, session, Delivery(message_ids=[ident]))
            self._bus.publish(BusMessage(session.id, "doorbell"))
            return FireWakeupReply(event_id=ident)

    async def _retire(self, request: FireWakeupRequest, wakeup: Wakeup | None, db: AsyncSession) -> FireWakeupReply:
        """A wakeup with nothing left to wake: cancel it and delete its schedule (one the API could not delete)."""
        activity.logger.info("wakeup %s has no live session; retired", request.wakeup_id)
        if wakeup is not None and wakeup.status == "pending":
            wakeup.status, wakeup.updated_at = "cancelled", utcnow()
            db.add(wakeup)
        schedule_id = schedule_entry.wakeup_schedule_id(request.session_id, request.wakeup_id)
        await schedule_entry.delete_schedule(self._temporal, schedule_id)
        return FireWakeupReply()
