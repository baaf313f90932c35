"""Session rows: create, read, list, update, archive, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import utcnow
from dma.ids import new_id
from dma.store import events as log
from dma.store import mcp_tools
from dma.store.events import NewEvent
from dma.store.keyset import page_query
from dma.store.tables import Environment, Session, SessionEvent

IDLE_STATES = ("idle",)
# Queued events that start a turn: user messages, and the system messages of deployments and wakeups.
QUEUED_TYPES = ("user.message", "system.message")


@dataclass(frozen=True)
class SessionFilter:
    """The filters of ``GET /v1/sessions``."""

    agent_id: str | None = None
    agent_version: int | None = None
    statuses: tuple[str, ...] = ()
    include_archived: bool = False
    deployment_id: str | None = None
    created: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class NewSession:
    """What a new session is made of, besides its agent and environment."""

    title: str | None = None
    meta: dict[str, str] | None = None
    budget: dict[str, Any] | None = None
    running: bool = False
    deployment_id: str | None = None
    vault_ids: list[str] | None = None


def new_row(
    agent_id: str, version: int, snapshot: dict[str, Any], environment: Environment, new: NewSession
) -> Session:
    """A fresh session row: the agent snapshot and the environment's config are captured now."""
    now = utcnow()
    return Session(
        id=new_id("sesn"),
        agent_id=agent_id,
        agent_version=version,
        agent=snapshot,
        environment_id=environment.id,
        environment_config=environment.config,
        title=new.title,
        meta=dict(new.meta or {}),
        status="running" if new.running else "idle",
        usage={},
        vault_ids=list(new.vault_ids or []),
        resources=[],
        budget=new.budget,
        deployment_id=new.deployment_id,
        created_at=now,
        updated_at=now,
    )


async def get(db: AsyncSession, session_id: str) -> Session | None:
    """A session by id."""
    return await db.get(Session, session_id)


async def insert(db: AsyncSession, row: Session) -> Session:
    """Store a new session row."""
    db.add(row)
    await db.flush()
    return row


async def page(
    db: AsyncSession, filters: SessionFilter, limit: int, descending: bool, after: tuple[datetime, str] | None
) -> list[Session]:
    """One page of sessions in ``(created_at, id)`` order, starting after a keyset position."""
    created, ident = col(Session.created_at), col(Session.id)
    statement = select(Session)
    if filters.agent_id:
        statement = statement.where(Session.agent_id == filters.agent_id)
    if filters.agent_version is not None:
        statement = statement.where(Session.agent_version == filters.agent_version)
    if filters.deployment_id is not None:
        statement = statement.where(Session.deployment_id == filters.deployment_id)
    if filters.statuses:
        statement = statement.where(col(Session.status).in_(filters.statuses))
    if not filters.include_archived:
        statement = statement.where(col(Session.archived_at).is_(None))
    statement = page_query(
        statement, created, ident, limit=limit - 1, created=dict(filters.created), after=after, descending=descending
    )
    return list((await db.exec(statement)).all())


async def has_queued_events(db: AsyncSession, session_id: str) -> bool:
    """Whether user events are waiting to be processed (the session is about to run)."""
    statement = select(SessionEvent.id).where(
        SessionEvent.session_id == session_id,
        col(SessionEvent.processed_at).is_(None),
        col(SessionEvent.type).in_(QUEUED_TYPES),
    )
    return (await db.exec(statement.limit(1))).first() is not None


async def archive(db: AsyncSession, session: Session, event: NewEvent) -> None:
    """Mark archived and terminated, and log ``session.status_terminated`` (caller holds the row lock)."""
    now = utcnow()
    session.archived_at = now
    session.status = "terminated"
    session.updated_at = now
    await log.append(db, session, [event], now)
    db.add(session)


async def remove(db: AsyncSession, session_id: str) -> None:
    """Delete the session and its whole event log."""
    await log.delete_session_events(db, session_id)
    await mcp_tools.drop(db, session_id)
    await db.exec(delete(Session).where(col(Session.id) == session_id))


async def apply_update(db: AsyncSession, session: Session, changes: dict[str, Any], event: NewEvent | None) -> None:
    """Write changed fields (and the ``session.updated`` event that describes them)."""
    now = utcnow()
    for key, value in changes.items():
        setattr(session, key, value)
    session.updated_at = now
    db.add(session)
    if "agent" in changes:
        # The next model step lists the servers of the new agent afresh.
        await mcp_tools.drop(db, session.id)
    if event is not None:
        await log.append(db, session, [event], now)


async def touch(db: AsyncSession, session_id: str) -> None:
    """Bump ``updated_at``."""
    await db.exec(update(Session).where(col(Session.id) == session_id).values(updated_at=utcnow()))
