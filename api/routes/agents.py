"""Routes for agents (API_CONTRACT.md §2.0, §2.1), plus the cursor helpers the resource routers share.

Handlers validate the body, call ``dma.store.agents`` and return the agent object; ``dma`` domain errors reach the
envelope through the handler in ``api.errors``. Cursors carry a ``(created_at, id)`` keyset position.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import unsupported
from api.deps import DbDep, StateDep
from api.errors import InvalidRequest
from api.model_rules import check_model
from api.query import MAX_INT32, decode_cursor, encode_cursor, time_filters
from dma.clock import rfc3339
from dma.schemas.agent_parts import normalize_model
from dma.schemas.agents import AgentCreate, AgentOut, AgentPage, AgentUpdate
from dma.store import agents as store
from dma.store.agents import Position


def page_after(page: str | None) -> Position | None:
    """The keyset position inside a ``page`` cursor (an empty one means the first page).

    Raises:
        InvalidRequest: when the cursor was not issued by ``next_page``.
    """
    if not page:
        return None
    position = decode_cursor(page)
    try:
        return datetime.fromisoformat(position["created_at"]), _text(position["id"])
    except (KeyError, TypeError, ValueError):
        raise InvalidRequest("page is not a cursor this server issued") from None


def next_page(position: Position | None) -> str | None:
    """The cursor for the page after ``position``; None (the last page) when there is no position."""
    if position is None:
        return None
    return encode_cursor({"created_at": rfc3339(position[0]), "id": position[1]})


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("cursor id must be a string")
    return value


router = APIRouter(prefix="/v1/agents", tags=["agents"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=AgentOut)
async def create_agent(body: AgentCreate, state: StateDep) -> dict[str, Any]:
    """Create an agent at version 1."""
    unsupported.refuse(body.model_dump(mode="json", exclude_unset=True), unsupported.AGENT)
    agent = body.to_body()
    check_model(state.catalog, agent)
    return await store.create_agent(state.db, agent)


@router.get("", response_model=AgentPage)
async def list_agents(
    request: Request, db: DbDep, limit: Limit = 20, include_archived: bool = False, page: str | None = None
) -> dict[str, Any]:
    """List agents, newest first."""
    data, position = await store.list_agents(
        db, limit=limit, include_archived=include_archived, created=time_filters(request), after=page_after(page)
    )
    return {"data": data, "next_page": next_page(position)}


@router.get("/{agent_id}", response_model=AgentOut)
async def retrieve_agent(
    agent_id: str,
    db: DbDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT32, description="A past version.")] = None,
) -> dict[str, Any]:
    """Get an agent at its latest version or at a past one."""
    return await store.get_agent(db, agent_id, version)


@router.post("/{agent_id}", response_model=AgentOut)
async def update_agent(agent_id: str, body: AgentUpdate, state: StateDep) -> dict[str, Any]:
    """Update an agent; a change creates a new version."""
    unsupported.refuse(body.model_dump(mode="json", exclude_unset=True), unsupported.AGENT)
    if body.model is not None:
        check_model(state.catalog, {"model": normalize_model(body.model)})
    return await store.update_agent(state.db, agent_id, body)


@router.post("/{agent_id}/archive", response_model=AgentOut)
async def archive_agent(agent_id: str, db: DbDep) -> dict[str, Any]:
    """Archive an agent; it becomes read-only."""
    return await store.archive_agent(db, agent_id)


@router.get("/{agent_id}/versions", response_model=AgentPage)
async def list_agent_versions(agent_id: str, db: DbDep, limit: Limit = 20, page: str | None = None) -> dict[str, Any]:
    """List an agent's versions, newest first."""
    before = None
    if page:
        position = decode_cursor(page).get("version")
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise InvalidRequest("page is not a cursor this server issued")
        before = position
    data, last = await store.list_agent_versions(db, agent_id, limit=limit, before_version=before)
    return {"data": data, "next_page": encode_cursor({"version": last}) if last is not None else None}
