"""Session resources (API_CONTRACT.md §2.5): add a file, list, retrieve, rotate a repository token, delete.

A resource added or removed while the session runs reaches its sandbox at the next tool call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import StateDep
from api.errors import InvalidRequest, NotFound
from api.query import decode_cursor, encode_cursor, page_limit
from dma.clock import utcnow
from dma.ids import is_id
from dma.schemas.memory import Deleted
from dma.schemas.resources import FileResourceIn, ResourceUpdate, resource_response
from dma.store import events as log
from dma.store import session_resources as store
from dma.store.tables import Session

router = APIRouter(prefix="/v1/sessions/{session_id}/resources", tags=["session resources"])


async def _locked(db: AsyncSession, session_id: str, *, writable: bool = True) -> Session:
    row = await log.lock_session(db, session_id) if is_id(session_id, "sesn") else None
    if row is None:
        raise NotFound("session", session_id)
    if writable and row.archived_at is not None:
        raise InvalidRequest("the session is archived and cannot be changed")
    return row


@router.post("")
async def add_session_resource(session_id: str, body: FileResourceIn, state: StateDep) -> dict[str, Any]:
    """Attach an uploaded file (only files can be added after a session is created)."""
    async with state.db.write() as db:
        session = await _locked(db, session_id)
        rows = await store.build(db, session_id, [body])
        await store.insert(db, session, rows)
    return resource_response(rows[0])


@router.get("")
async def list_session_resources(session_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """List a session's resources in the order they were attached (all of them when no limit is given)."""
    limit = page_limit(request, default=1000, maximum=1000)
    page = request.query_params.get("page")
    start = 0
    if page:
        position = decode_cursor(page).get("i")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidRequest("page is not a cursor this server issued")
        start = position
    async with state.db.read() as db:
        if not is_id(session_id, "sesn") or await db.get(Session, session_id) is None:
            raise NotFound("session", session_id)
        rows = await store.for_session(db, session_id)
    chosen = rows[start : start + limit]
    more = start + limit < len(rows)
    return {
        "data": [resource_response(row) for row in chosen],
        "next_page": encode_cursor({"i": start + limit}) if more else None,
    }


@router.get("/{resource_id}")
async def retrieve_session_resource(session_id: str, resource_id: str, state: StateDep) -> dict[str, Any]:
    """Get one resource."""
    async with state.db.read() as db:
        return resource_response(await store.get(db, session_id, resource_id))


@router.post("/{resource_id}")
async def update_session_resource(
    session_id: str, resource_id: str, body: ResourceUpdate, state: StateDep
) -> dict[str, Any]:
    """Rotate a repository resource's ``authorization_token`` (used for clones from now on, never returned)."""
    async with state.db.write() as db:
        await _locked(db, session_id)
        row = await store.get(db, session_id, resource_id)
        if row.type != "github_repository":
            raise InvalidRequest("only github_repository resources have an authorization_token to update")
        row.secret = body.authorization_token
        row.updated_at = utcnow()
        db.add(row)
    return resource_response(row)


@router.delete("/{resource_id}", response_model=Deleted)
async def delete_session_resource(session_id: str, resource_id: str, state: StateDep) -> dict[str, Any]:
    """Detach a resource; a file disappears from the sandbox at the next tool call."""
    async with state.db.write() as db:
        session = await _locked(db, session_id)
        row = await store.get(db, session_id, resource_id)
        await db.delete(row)
        await db.flush()
        await store.refresh_mirror(db, session)
    return {"id": resource_id, "type": "session_resource_deleted"}
