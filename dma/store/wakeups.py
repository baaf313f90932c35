"""Wakeup rows: the DB side of a session's self-wakeups (what clients and the model read; what decides a fire)."""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.ids import is_id
from dma.store.keyset import Position, page_query
from dma.store.tables import Wakeup


async def get(db: AsyncSession, session_id: str, wakeup_id: str) -> Wakeup | None:
    """A wakeup of this session (another session's is simply absent)."""
    row = await db.get(Wakeup, wakeup_id) if is_id(wakeup_id, "wake") else None
    return row if row is not None and row.session_id == session_id else None


async def pending_count(db: AsyncSession, session_id: str) -> int:
    """How many wakeups of the session may still fire."""
    statement = select(func.count()).where(Wakeup.session_id == session_id, Wakeup.status == "pending")
    return int((await db.exec(statement)).one())


async def pending(db: AsyncSession, session_id: str) -> list[Wakeup]:
    """The session's wakeups that may still fire, soonest first."""
    statement = select(Wakeup).where(Wakeup.session_id == session_id, Wakeup.status == "pending")
    return list((await db.exec(statement.order_by(col(Wakeup.created_at)))).all())


async def page(
    db: AsyncSession, session_id: str, *, include_inactive: bool, limit: int, after: Position | None
) -> list[Wakeup]:
    """Up to ``limit + 1`` wakeups of the session, newest first."""
    statement = select(Wakeup).where(Wakeup.session_id == session_id)
    if not include_inactive:
        statement = statement.where(Wakeup.status == "pending")
    statement = page_query(statement, col(Wakeup.created_at), col(Wakeup.id), limit=limit, after=after)
    return list((await db.exec(statement)).all())


async def delete_all(db: AsyncSession, session_id: str) -> None:
    """Remove every wakeup of a deleted session."""
    await db.exec(delete(Wakeup).where(col(Wakeup.session_id) == session_id))
