"""Builders for the server-authored events activities write, and the usage bookkeeping that goes with them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from dma.bus import Bus, BusMessage
from dma.clock import as_utc
from dma.ids import event_id
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session


def status_event(session_id: str, step: int, slot: str, status_type: str) -> NewEvent:
    """``session.status_running`` / ``_rescheduled`` / ``_terminated``."""
    return NewEvent(event_id(session_id, step, slot), status_type, {}, step)


def error_event(session_id: str, step: int, slot: str, error_type: str, message: str, retry: str) -> NewEvent:
    """``session.error`` with ``retry_status`` ``retrying`` | ``exhausted`` | ``terminal``."""
    error = {"type": error_type, "message": message, "retry_status": {"type": retry}}
    return NewEvent(event_id(session_id, step, slot), "session.error", {"error": error}, step)


def add_usage(session: Session, request_usage: dict[str, int]) -> None:
    """Fold one request's token counts into the session's cumulative usage."""
    usage: dict[str, Any] = dict(session.usage or {})
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        usage[key] = int(usage.get(key, 0)) + int(request_usage.get(key, 0))
    creation = dict(usage.get("cache_creation") or {})
    creation["ephemeral_5m_input_tokens"] = int(creation.get("ephemeral_5m_input_tokens", 0)) + int(
        request_usage.get("cache_creation_input_tokens", 0)
    )
    usage["cache_creation"] = creation
    session.usage = usage


def start_running(session: Session, now: datetime) -> None:
    """The session goes running: start counting active time (once per stretch)."""
    session.status = "running"
    if session.running_since is None:
        session.running_since = now


def stop_running(session: Session, now: datetime) -> None:
    """The session goes idle: add the stretch to ``active_seconds``."""
    session.status = "idle"
    if session.running_since is not None:
        session.active_seconds += max(0.0, (now - as_utc(session.running_since)).total_seconds())
        session.running_since = None


def turn_end_events(session: Session, step: int, stop_reason: dict[str, Any]) -> list[NewEvent]:
    """``session.usage`` then ``session.status_idle``: always emitted together, in that order."""
    usage = dict(session.usage or {})
    return [
        NewEvent(event_id(session.id, step, "usage"), "session.usage", {"usage": usage}, step),
        NewEvent(event_id(session.id, step, "idle"), "session.status_idle", {"stop_reason": stop_reason}, step),
    ]


@dataclass(frozen=True)
class Locked:
    """A session row locked in an open write transaction."""

    db: AsyncSession
    session: Session


class EventWriter:
    """Writes a session's events under its row lock, then rings the SSE doorbell once they are committed."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    @asynccontextmanager
    async def locked(self, session_id: str) -> AsyncGenerator[Locked | None, None]:
        """The locked session (None when it was deleted); the transaction commits when the block ends."""
        async with self._db.write() as db:
            session = await log.lock_session(db, session_id)
            yield None if session is None else Locked(db, session)
            if session is not None:
                db.add(session)
        if session is not None:
            self._bus.publish(BusMessage(session_id, "doorbell"))
