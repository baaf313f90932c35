"""Paging through a session's event log for ``GET /v1/sessions/{id}/events``.

Processed events come in ``seq`` order (that is ``processed_at`` order); events still queued have no ``seq`` and sit
after them in insertion order (``pos``). A keyset position is therefore ``(seq, pos)`` with ``seq`` null for queued
events, and each page is read from the one or two segments it spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.store.tables import SessionEvent


@dataclass(frozen=True)
class EventQuery:
    """Filters and position of one page."""

    session_id: str
    types: tuple[str, ...] = ()
    processed: dict[str, datetime] = field(default_factory=dict[str, datetime])
    descending: bool = False
    after_seq: int | None = None
    after_pos: int | None = None
    started: bool = False


def _base(query: EventQuery):  # noqa: ANN202 - a SQLModel select whose generic type is noisy to spell out
    statement = select(SessionEvent).where(SessionEvent.session_id == query.session_id)
    if query.types:
        statement = statement.where(col(SessionEvent.type).in_(query.types))
    processed_at = col(SessionEvent.processed_at)
    for op, value in query.processed.items():
        statement = statement.where(
            {
                "gt": processed_at > value,
                "gte": processed_at >= value,
                "lt": processed_at < value,
                "lte": processed_at <= value,
            }[op]
        )
    return statement


async def _processed(db: AsyncSession, query: EventQuery, limit: int) -> list[SessionEvent]:
    seq = col(SessionEvent.seq)
    statement = _base(query).where(seq.is_not(None))
    if query.after_seq is not None:
        statement = statement.where(seq < query.after_seq if query.descending else seq > query.after_seq)
    statement = statement.order_by(seq.desc() if query.descending else seq.asc()).limit(limit)
    return list((await db.exec(statement)).all())


async def _queued(db: AsyncSession, query: EventQuery, limit: int) -> list[SessionEvent]:
    if query.processed:
        return []
    pos = col(SessionEvent.pos)
    # Only user events queue; a hidden server tool result (waiting for its turn in the stream) is not listed yet.
    statement = _base(query).where(col(SessionEvent.seq).is_(None), col(SessionEvent.type).startswith("user."))
    if query.after_pos is not None:
        statement = statement.where(pos < query.after_pos if query.descending else pos > query.after_pos)
    statement = statement.order_by(pos.desc() if query.descending else pos.asc()).limit(limit)
    return list((await db.exec(statement)).all())


async def read_page(db: AsyncSession, query: EventQuery, limit: int) -> list[SessionEvent]:
    """Up to ``limit`` events after the query's position, in the requested order."""
    in_queued_segment = query.started and query.after_seq is None
    if not query.descending:
        rows = [] if in_queued_segment else await _processed(db, query, limit)
        if len(rows) < limit:
            rows += await _queued(db, query, limit - len(rows))
        return rows
    in_processed_segment = query.started and query.after_seq is not None
    rows = [] if in_processed_segment else await _queued(db, query, limit)
    if len(rows) < limit:
        rows += await _processed(db, query, limit - len(rows))
    return rows
