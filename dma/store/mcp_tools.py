"""The MCP tool lists a session has seen: fetched once per server, dropped when the session's agent changes.

They live in the DB rather than in a worker's memory because any worker may run the next model step or tool call of a
session, the list must stay the same across retries and restarts (the model's tool names derive from it), and the
API drops it in the same transaction that changes the agent, so no worker can keep serving a stale list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import utcnow
from dma.store.tables import SessionMcpTools


async def cached(db: AsyncSession, session_id: str) -> dict[str, SessionMcpTools]:
    """The session's cached lists by server name."""
    statement = select(SessionMcpTools).where(SessionMcpTools.session_id == session_id)
    return {row.server_name: row for row in (await db.exec(statement)).all()}


async def store(db: AsyncSession, session_id: str, server_name: str, server_url: str, tools: list[Any]) -> None:
    """Keep a server's list (a list another worker stored first wins: both came from the same server)."""
    if await db.get(SessionMcpTools, (session_id, server_name)) is not None:
        return
    db.add(
        SessionMcpTools(
            session_id=session_id, server_name=server_name, server_url=server_url, tools=tools, fetched_at=utcnow()
        )
    )


async def drop(db: AsyncSession, session_id: str) -> None:
    """Forget a session's lists (its agent changed, or it was deleted)."""
    await db.exec(delete(SessionMcpTools).where(col(SessionMcpTools.session_id) == session_id))
