"""Self-wakeups of a session: the one interface the REST extension and the model's wakeup tools both use.

``Wakeups.create / list / get / cancel`` check the request and the limits, keep the ``wakeups`` rows (the DB decides
whether a wakeup still fires) and tell Temporal through a ``WakeupTemporal``: a one-shot wakeup becomes a durable
timer in the session's workflow, a recurring one a Temporal Schedule whose fires signal-with-start the session.
The Temporal side lives with the workflows (``workflows.wakeup_entry.TemporalWakeups``) because ``dma`` cannot import
them; callers pass it in. Errors are ``dma.schemas.common`` domain errors: the API renders them as 4xx, a tool as its
error result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from dma.clock import as_utc, utcnow
from dma.cron import parse_cron, shortest_gap_seconds
from dma.ids import is_id, new_id
from dma.schemas.common import NotFoundError, SchemaError
from dma.schemas.wakeups import WakeupCreate
from dma.settings import CommonSettings
from dma.store import events as log
from dma.store import wakeups as store
from dma.store.engine import Database
from dma.store.keyset import Position
from dma.store.tables import Session, Wakeup


class WakeupTemporal(Protocol):
    """What a wakeup needs from Temporal (implemented by ``workflows.wakeup_entry.TemporalWakeups``)."""

    async def arm(self, session: Session, wakeup_id: str, fire_at: datetime) -> None:
        """Add a one-shot timer to the session's workflow (starting it if it does not run)."""
        ...

    async def disarm(self, session_id: str, wakeup_id: str) -> None:
        """Drop a one-shot timer from the session's workflow, if it runs."""
        ...

    async def schedule(self, session: Session, wakeup_id: str, recurrence: dict[str, Any]) -> None:
        """Create the Temporal Schedule of a recurring wakeup (``recurrence`` as stored on the row)."""
        ...

    async def unschedule(self, session_id: str, wakeup_id: str) -> None:
        """Delete the Temporal Schedule of a recurring wakeup (one already gone is fine)."""
        ...


@dataclass(frozen=True)
class WakeupLimits:
    """How many wakeups may be pending per session, and the shortest delay or repeat interval."""

    max_per_session: int = 10
    min_interval_seconds: int = 60

    @classmethod
    def of(cls, settings: CommonSettings) -> WakeupLimits:
        return cls(settings.wakeup_max_per_session, settings.wakeup_min_interval_seconds)


def wakeup_text(row: Wakeup, scheduled_at: datetime) -> str:
    """What the model reads when the wakeup fires (a ``system.message`` in its context)."""
    when = as_utc(scheduled_at).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"Wakeup {row.id} ({row.kind}, scheduled for {when}) fired. Reason: {row.reason}"


class Wakeups:
    """Create, list, get and cancel a session's wakeups; remove them all when the session goes."""

    def __init__(self, db: Database, temporal: WakeupTemporal, limits: WakeupLimits) -> None:
        self._db = db
        self._temporal = temporal
        self._limits = limits

    def _when(self, request: WakeupCreate, now: datetime) -> tuple[datetime | None, dict[str, Any] | None]:
        """``(fire_at, recurrence)`` of a request, checked against the shortest interval."""
        shortest = self._limits.min_interval_seconds
        kind = request.kind()
        if kind == "once":
            fire_at = now + timedelta(seconds=request.in_seconds) if request.in_seconds else as_utc(request.at or now)
            if (fire_at - now).total_seconds() < shortest:
                raise SchemaError(f"a wakeup must be at least {shortest} seconds away (wakeup_min_interval_seconds)")
            return fire_at, None
        if request.every_seconds is not None:
            if request.every_seconds < shortest:
                raise SchemaError(f"every_seconds must be at least {shortest} (wakeup_min_interval_seconds)")
            return None, {"type": "interval", "every_seconds": request.every_seconds}
        assert request.cron is not None
        parsed = parse_cron(request.cron.expression, request.cron.timezone)
        if shortest_gap_seconds(parsed) < shortest:
            raise SchemaError(f"the cron schedule fires more often than every {shortest} seconds")
        return None, {"type": "cron", "expression": parsed.expression, "timezone": parsed.timezone}

    async def create(self, session_id: str, request: WakeupCreate, *, wakeup_id: str | None = None) -> Wakeup:
        """Store a wakeup and arm it in Temporal (before the row commits: a failure writes nothing).

        ``wakeup_id`` makes the call idempotent (a retried tool call passes the same one): when the session already
        has a wakeup of that id, that wakeup is returned and nothing changes.

        Raises:
            NotFoundError: no such session.
            SchemaError: an archived session, a bad time or schedule, or the per-session limit reached.
        """
        now = utcnow()
        async with self._db.write() as db:
            session = await log.lock_session(db, session_id) if is_id(session_id, "sesn") else None
            if session is None:
                raise NotFoundError("session", session_id)
            if wakeup_id is not None and (existing := await store.get(db, session_id, wakeup_id)) is not None:
                return existing
            fire_at, recurrence = self._when(request, now)
            if session.archived_at is not None:
                raise SchemaError("the session is archived and takes no wakeups")
            if await store.pending_count(db, session_id) >= self._limits.max_per_session:
                raise SchemaError(
                    f"the session already has {self._limits.max_per_session} pending wakeups (wakeup_max_per_session)"
                )
            row = Wakeup(
                id=wakeup_id or new_id("wake"),
                session_id=session_id,
                kind="once" if fire_at is not None else "recurring",
                reason=request.reason,
                fire_at=fire_at,
                schedule=recurrence,
                created_at=now,
                updated_at=now,
            )
            db.add(row)
            await db.flush()
            if fire_at is not None:
                await self._temporal.arm(session, row.id, fire_at)
            else:
                await self._temporal.schedule(session, row.id, recurrence or {})
        return row

    async def get(self, session_id: str, wakeup_id: str) -> Wakeup:
        """One wakeup of the session.

        Raises:
            NotFoundError: no such wakeup in this session.
        """
        async with self._db.read() as db:
            row = await store.get(db, session_id, wakeup_id)
        if row is None:
            raise NotFoundError("wakeup", wakeup_id)
        return row

    async def list(
        self, session_id: str, *, include_inactive: bool = False, limit: int = 100, after: Position | None = None
    ) -> list[Wakeup]:
        """The session's wakeups, newest first (``limit + 1`` rows: the extra one says a page follows)."""
        async with self._db.read() as db:
            return await store.page(db, session_id, include_inactive=include_inactive, limit=limit, after=after)

    async def cancel(self, session_id: str, wakeup_id: str) -> Wakeup:
        """Cancel a pending wakeup (cancelling one that is done changes nothing).

        Raises:
            NotFoundError: no such wakeup in this session.
        """
        async with self._db.write() as db:
            row = await store.get(db, session_id, wakeup_id)
            if row is None:
                raise NotFoundError("wakeup", wakeup_id)
            if row.status != "pending":
                return row
            row.status, row.updated_at = "cancelled", utcnow()
            db.add(row)
        await self._forget(row)
        return row

    async def remove_all(self, session_id: str, *, deleted: bool) -> None:
        """The session was archived or deleted: cancel (or delete) its wakeups and remove their schedules.

        Timers need no removing: they end with the session's workflow.
        """
        async with self._db.write() as db:
            rows = await store.pending(db, session_id)
            now = utcnow()
            for row in rows:
                row.status, row.updated_at = "cancelled", now
                db.add(row)
            if deleted:
                await store.delete_all(db, session_id)
        for row in rows:
            if row.kind == "recurring":
                await self._temporal.unschedule(session_id, row.id)

    async def _forget(self, row: Wakeup) -> None:
        if row.kind == "recurring":
            await self._temporal.unschedule(row.session_id, row.id)
        else:
            await self._temporal.disarm(row.session_id, row.id)
