"""Resolves what a new session is made of: the agent snapshot (with overrides) and the environment."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import InvalidRequest, NotFound
from dma.ids import is_id
from dma.schemas.agents import apply_overrides, session_agent_snapshot
from dma.schemas.deployments import AgentParam
from dma.schemas.sessions import AgentReference, AgentWithOverrides
from dma.store import agents as agent_store
from dma.store.tables import Environment


async def _live_agent(
    db: AsyncSession, agent: str | AgentReference | AgentWithOverrides | AgentParam, user: str
) -> tuple[str, dict[str, Any]]:
    """The agent version a reference names (the latest for a bare id); unknown → 404, archived → 400 naming ``user``."""
    agent_id = agent if isinstance(agent, str) else agent.id
    version = None if isinstance(agent, str) else agent.version
    if not is_id(agent_id, "agent"):
        raise NotFound("agent", agent_id)
    found = await agent_store.get_agent_for_session(db, agent_id, version)
    if found is None:
        raise NotFound("agent", agent_id if version is None else f"{agent_id} version {version}")
    if found.get("archived_at"):
        raise InvalidRequest(f"agent {agent_id!r} is archived; {user} cannot use it")
    return agent_id, found


async def resolve_agent_snapshot(
    db: AsyncSession, agent: str | AgentReference | AgentWithOverrides
) -> tuple[str, int, dict[str, Any]]:
    """``(agent_id, version, SessionAgent snapshot)``; unknown → 404, archived → 400."""
    agent_id, found = await _live_agent(db, agent, "new sessions")
    snapshot = session_agent_snapshot(found, await agent_store.load_roster(db, found))
    if isinstance(agent, AgentWithOverrides):
        snapshot = apply_overrides(snapshot, agent.overrides())
    return agent_id, int(found["version"]), snapshot


async def resolve_environment(db: AsyncSession, environment_id: str) -> Environment:
    """The environment a new session runs in; unknown → 404, archived → 400."""
    row = await db.get(Environment, environment_id) if is_id(environment_id, "env") else None
    if row is None:
        raise NotFound("environment", environment_id, error_code="environment_not_found")
    if row.archived_at is not None:
        raise InvalidRequest(f"environment {environment_id!r} is archived; new sessions cannot use it")
    return row


async def resolve_agent_pin(db: AsyncSession, agent: str | AgentParam) -> tuple[str, int]:
    """``(agent_id, version)`` a deployment pins: the latest version for a bare id; unknown → 404, archived → 400."""
    agent_id, found = await _live_agent(db, agent, "a deployment")
    return agent_id, int(found["version"])
