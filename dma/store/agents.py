"""Agent queries: ``agents`` rows and their immutable ``agent_versions`` snapshots (API_CONTRACT.md §2.1).

Functions return agent response dicts (``dma.schemas.agents.agent_response``) and raise ``dma.schemas.common``
domain errors, which the API maps onto its error envelope.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc, utcnow
from dma.ids import is_id, new_id
from dma.schemas.agent_multiagent import RosterAgent, pin_multiagent, roster_refs
from dma.schemas.agents import AgentUpdate, agent_response
from dma.schemas.common import ConflictError, NotFoundError, SchemaError
from dma.store.engine import Database
from dma.store.keyset import Position, page_query
from dma.store.tables import Agent, AgentVersion


@asynccontextmanager
async def reading(source: Database | AsyncSession) -> AsyncGenerator[AsyncSession]:
    """A session to read with: the caller's own (inside its transaction) or a fresh read session."""
    if isinstance(source, AsyncSession):
        yield source
        return
    async with source.read() as session:
        yield session


async def _load(session: AsyncSession, agent_id: str, version: int | None = None) -> tuple[Agent, AgentVersion] | None:
    agent = await session.get(Agent, agent_id) if is_id(agent_id, "agent") else None
    if agent is None:
        return None
    row = await session.get(AgentVersion, (agent_id, agent.version if version is None else version))
    return None if row is None else (agent, row)


async def create_agent(db: Database, body: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new agent as version 1 of ``body`` (from ``AgentCreate.to_body``), pinning its multiagent roster.

    Raises:
        SchemaError: when the multiagent roster names unknown, archived or multiagent agents.
    """
    agent_id, now = new_id("agent"), utcnow()
    async with db.write() as session:
        stored = await _pin(session, body, (agent_id, 1))
        agent = Agent(id=agent_id, version=1, created_at=now, updated_at=now)
        version = AgentVersion(agent_id=agent_id, version=1, body=stored, created_at=now)
        session.add(agent)
        session.add(version)
    return agent_response(agent, version)


async def get_agent(db: Database, agent_id: str, version: int | None = None) -> dict[str, Any]:
    """An agent at its latest version, or at ``version``.

    Raises:
        NotFoundError: when the agent or that version does not exist.
    """
    found = await get_agent_for_session(db, agent_id, version)
    if found is None:
        raise NotFoundError("agent" if version is None else f"version {version} of agent", agent_id)
    return found


async def get_agent_for_session(
    source: Database | AsyncSession, agent_id: str, version: int | None = None
) -> dict[str, Any] | None:
    """The agent response at ``version`` (latest when None), or None when the agent or version does not exist.

    Archived agents are returned too: check ``archived_at`` (a session cannot reference an archived agent).
    """
    async with reading(source) as session:
        loaded = await _load(session, agent_id, version)
    return agent_response(*loaded) if loaded else None


async def load_roster(source: Database | AsyncSession, agent: Mapping[str, Any]) -> dict[tuple[str, int], Any]:
    """Responses of the agents an agent's ``multiagent`` pins, keyed by ``(id, version)``.

    Pass the result to ``session_agent_snapshot``; an agent that has since vanished is simply absent.
    """
    roster: dict[tuple[str, int], Any] = {}
    async with reading(source) as session:
        for ref_id, ref_version in roster_refs(agent.get("multiagent")):
            loaded = await _load(session, ref_id, ref_version)
            if loaded is not None:
                roster[(ref_id, loaded[1].version)] = agent_response(*loaded)
    return roster


async def update_agent(db: Database, agent_id: str, update: AgentUpdate) -> dict[str, Any]:
    """Apply an update; a change stores a new version, an update that changes nothing returns the current one.

    Raises:
        NotFoundError: when the agent does not exist.
        SchemaError: when the agent is archived or the result is invalid.
        ConflictError: when ``update.version`` is not the current version (even if nothing would change).
    """
    async with db.write() as session:
        # The row lock serializes concurrent updates on PostgreSQL (SQLite's BEGIN IMMEDIATE already does).
        statement = select(Agent).where(Agent.id == agent_id).with_for_update()
        agent = (await session.exec(statement)).first() if is_id(agent_id, "agent") else None
        if agent is None:
            raise NotFoundError("agent", agent_id)
        if agent.archived_at is not None:
            raise SchemaError(f"agent {agent_id!r} is archived and can no longer be updated")
        if update.version is not None and update.version != agent.version:
            raise ConflictError(f"agent {agent_id!r} is at version {agent.version}, not {update.version}")
        current = await session.get(AgentVersion, (agent_id, agent.version))
        assert current is not None, "every agent has a row for its current version"
        body = update.apply(current.body)
        if "multiagent" in update.model_fields_set:
            # Pinning "self" to the current version first makes re-sending the stored roster a no-op.
            if await _pin(session, body, (agent_id, agent.version)) == current.body:
                return agent_response(agent, current)
            body = await _pin(session, body, (agent_id, agent.version + 1))
        if body == current.body:
            return agent_response(agent, current)
        now = utcnow()
        version = AgentVersion(agent_id=agent_id, version=agent.version + 1, body=body, created_at=now)
        agent.version, agent.updated_at = version.version, now
        session.add(agent)
        session.add(version)
    return agent_response(agent, version)


async def _pin(session: AsyncSession, body: Mapping[str, Any], self_ref: tuple[str, int]) -> dict[str, Any]:
    multiagent = body.get("multiagent")
    if not multiagent:
        return dict(body)
    found: dict[tuple[str, int | None], RosterAgent] = {}
    for ref_id, ref_version in roster_refs(multiagent):
        loaded = await _load(session, ref_id, ref_version)
        if loaded is not None:
            agent, row = loaded
            found[(ref_id, ref_version)] = RosterAgent(
                version=row.version, archived=agent.archived_at is not None, multiagent=bool(row.body.get("multiagent"))
            )
    return {**body, "multiagent": pin_multiagent(multiagent, self_ref=self_ref, found=found)}


async def archive_agent(db: Database, agent_id: str) -> dict[str, Any]:
    """Archive an agent (one-way; archiving again changes nothing).

    Raises:
        NotFoundError: when the agent does not exist.
    """
    async with db.write() as session:
        loaded = await _load(session, agent_id)
        if loaded is None:
            raise NotFoundError("agent", agent_id)
        agent, version = loaded
        if agent.archived_at is None:
            agent.archived_at = utcnow()
            session.add(agent)
    return agent_response(agent, version)


async def list_agents(
    db: Database,
    *,
    limit: int,
    include_archived: bool = False,
    created: Mapping[str, datetime] | None = None,
    after: Position | None = None,
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of agents, newest first by ``(created_at, id)``, and the position after it (None on the last page).

    Args:
        db: the database.
        limit: the page size.
        include_archived: whether archived agents are listed.
        created: ``created_at`` bounds keyed by ``gt``, ``gte``, ``lt`` or ``lte``.
        after: the position returned for the previous page.
    """
    created_at, ident = col(Agent.created_at), col(Agent.id)
    statement = select(Agent, AgentVersion).join(
        AgentVersion, and_(col(AgentVersion.agent_id) == ident, col(AgentVersion.version) == col(Agent.version))
    )
    if not include_archived:
        statement = statement.where(col(Agent.archived_at).is_(None))
    statement = page_query(statement, created_at, ident, limit=limit, created=created, after=after)
    async with db.read() as session:
        rows = list((await session.exec(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    position = (as_utc(rows[-1][0].created_at), rows[-1][0].id) if more else None
    return [agent_response(agent, version) for agent, version in rows], position


async def list_agent_versions(
    db: Database, agent_id: str, *, limit: int, before_version: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of an agent's versions, newest first, and the version to continue below (None on the last page).

    Raises:
        NotFoundError: when the agent does not exist.
    """
    async with db.read() as session:
        agent = await session.get(Agent, agent_id) if is_id(agent_id, "agent") else None
        if agent is None:
            raise NotFoundError("agent", agent_id)
        statement = select(AgentVersion).where(AgentVersion.agent_id == agent_id)
        if before_version is not None:
            statement = statement.where(col(AgentVersion.version) < before_version)
        statement = statement.order_by(col(AgentVersion.version).desc()).limit(limit + 1)
        rows = list((await session.exec(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return [agent_response(agent, row) for row in rows], rows[-1].version if more else None
