"""User events that wait for their session's workflow: what a delivery carries and what the reconciler redelivers.

Two kinds of event wait. Queued ones (``processed_at`` null: messages, interrupts, confirmations) are found through
the partial index ``ix_session_events_queued``, which holds only them. Answers to the calls a parked turn waits for
(the latest status is ``session.status_idle`` with ``requires_action``) wait too, although a custom tool result is
processed on receipt: until the workflow resumes, nothing else shows that it has them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.store.tables import Session, SessionEvent

STATUS_TYPES = (
    "session.status_running",
    "session.status_idle",
    "session.status_rescheduled",
    "session.status_terminated",
)
ANSWER_TYPES = ("user.tool_confirmation", "user.custom_tool_result")
# What queues: client events and the system messages of deployments and wakeups. A server tool result waiting for its
# turn in the stream also has no ``processed_at`` (``dma.store.events.publish_results``) but is not queued input.
WAITING_TYPES = (
    "user.message",
    "user.interrupt",
    "user.tool_confirmation",
    "user.custom_tool_result",
    "user.tool_result",
    "system.message",
)
MESSAGE_TYPES = ("user.message", "system.message")


async def due_sessions(db: AsyncSession, now: datetime, grace: timedelta, limit: int = 100) -> list[str]:
    """Sessions whose waiting events the reconciler should look at now (two index lookups, empty when all is well).

    Due are sessions whose ``redeliver_at`` has come, and sessions without one that hold a queued event older than
    ``grace`` (a healthy delivery is processed well within it).
    """
    marked = select(Session.id).where(col(Session.redeliver_at) <= now, col(Session.archived_at).is_(None))
    queued = (
        select(SessionEvent.session_id)
        .join(Session, col(Session.id) == col(SessionEvent.session_id))
        .where(
            col(SessionEvent.processed_at).is_(None),
            col(SessionEvent.type).in_(WAITING_TYPES),
            col(SessionEvent.created_at) <= now - grace,
            col(Session.redeliver_at).is_(None),
            col(Session.archived_at).is_(None),
        )
    )
    both = union(marked, queued).subquery()
    rows = await db.exec(select(both.c[0]).limit(limit))
    return [str(session_id) for session_id in rows.all()]


# The queued-event queries sort in Python: an ORDER BY pos makes SQLite walk the session's whole log through the
# (session_id, pos) index instead of the few rows of the partial index.


async def queued_events(db: AsyncSession, session_id: str) -> list[SessionEvent]:
    """The session's queued user events, in the order they were accepted."""
    statement = select(SessionEvent).where(
        SessionEvent.session_id == session_id,
        col(SessionEvent.processed_at).is_(None),
        col(SessionEvent.type).in_(WAITING_TYPES),
    )
    return sorted((await db.exec(statement)).all(), key=lambda event: event.pos or 0)


async def queued_message_ids(db: AsyncSession, session_id: str) -> list[str]:
    """Ids of the session's queued messages, in order (every delivery carries them all)."""
    statement = select(SessionEvent.id, SessionEvent.pos).where(
        SessionEvent.session_id == session_id,
        col(SessionEvent.processed_at).is_(None),
        col(SessionEvent.type).in_(MESSAGE_TYPES),
    )
    return [event_id for event_id, _ in sorted((await db.exec(statement)).all(), key=lambda row: row[1] or 0)]


async def awaited_answers(db: AsyncSession, session_id: str) -> list[SessionEvent]:
    """Answers to the calls the session's parked turn still waits for (none unless it is parked)."""
    latest = (
        select(SessionEvent)
        .where(SessionEvent.session_id == session_id, col(SessionEvent.type).in_(STATUS_TYPES))
        .order_by(col(SessionEvent.seq).desc())
        .limit(1)
    )
    status = (await db.exec(latest)).first()
    stop: dict[str, Any] = (status.body.get("stop_reason") or {}) if status is not None else {}
    if status is None or status.type != "session.status_idle" or stop.get("type") != "requires_action":
        return []
    listed: list[Any] = stop.get("event_ids") or []
    blocking = [str(event_id) for event_id in listed]
    statement = (
        select(SessionEvent)
        .where(
            SessionEvent.session_id == session_id,
            col(SessionEvent.ref).in_(blocking),
            col(SessionEvent.type).in_(ANSWER_TYPES),
        )
        .order_by(col(SessionEvent.pos))
    )
    return list((await db.exec(statement)).all())
