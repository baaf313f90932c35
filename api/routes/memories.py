"""Memories of a store (API_CONTRACT.md §2.7): create, retrieve, update (with preconditions), list, delete.

Writes record the request's API key as the version's ``api_actor``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import api_actor
from api.deps import DbDep
from api.errors import InvalidRequest
from api.query import decode_cursor, encode_cursor
from dma.schemas.memory import (
    Deleted,
    MemoryCreate,
    MemoryOut,
    MemoryPage,
    MemoryUpdate,
    View,
    check_prefix,
    memory_response,
)
from dma.store import memory as store
from dma.store.memory import MemoryChange

router = APIRouter(prefix="/v1/memory_stores/{memory_store_id}/memories", tags=["memories"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100 (at most 20 with view=full).")]
FULL_VIEW_LIMIT = 20
Sha256 = Annotated[str, Query(pattern=r"^[0-9a-f]{64}$")]


@router.post("", response_model=MemoryOut)
async def create_memory(
    memory_store_id: str, body: MemoryCreate, request: Request, db: DbDep, view: View = "basic"
) -> dict[str, Any]:
    """Create a memory at a free path."""
    async with db.write() as session:
        row = await store.create_memory(session, memory_store_id, body.path, body.content or "", api_actor(request))
    return memory_response(row, view)


@router.get("", response_model=MemoryPage)
async def list_memories(
    memory_store_id: str,
    db: DbDep,
    limit: Limit = 20,
    page: str | None = None,
    path_prefix: str = "/",
    depth: Annotated[int, Query(ge=0, le=20)] = 0,
    view: View = "basic",
) -> dict[str, Any]:
    """List memories by path; with ``depth`` deeper entries roll up into ``memory_prefix`` items."""
    prefix = check_prefix(path_prefix)
    if view == "full":
        limit = min(limit, FULL_VIEW_LIMIT)
    after = _cursor_path(page)
    async with db.read() as session:
        await store.get_store(session, memory_store_id)
        items, resume = await store.list_items(session, memory_store_id, prefix, depth, limit, after)
    data = [
        {"type": "memory_prefix", "path": item} if isinstance(item, str) else memory_response(item, view)
        for item in items
    ]
    return {"data": data, "next_page": encode_cursor({"p": resume}) if resume is not None else None}


def _cursor_path(page: str | None) -> str | None:
    if not page:
        return None
    value = decode_cursor(page).get("p")
    if not isinstance(value, str):
        raise InvalidRequest("page is not a cursor this server issued")
    return value


@router.get("/{memory_id}", response_model=MemoryOut)
async def retrieve_memory(memory_store_id: str, memory_id: str, db: DbDep, view: View = "full") -> dict[str, Any]:
    """Get a memory (with its content by default)."""
    async with db.read() as session:
        await store.get_store(session, memory_store_id)
        return memory_response(await store.get_memory(session, memory_store_id, memory_id), view)


@router.post("/{memory_id}", response_model=MemoryOut)
async def update_memory(
    memory_store_id: str, memory_id: str, body: MemoryUpdate, request: Request, db: DbDep, view: View = "basic"
) -> dict[str, Any]:
    """Change a memory's content or path, optionally only if its content still has a given digest."""
    expected = None
    if body.precondition is not None:
        if body.precondition.content_sha256 is None:
            raise InvalidRequest("precondition.content_sha256 is required")
        expected = body.precondition.content_sha256
    change = MemoryChange(content=body.content, path=body.path, expected=expected)
    async with db.write() as session:
        row = await store.update_memory(session, memory_store_id, memory_id, change, api_actor(request))
    return memory_response(row, view)


@router.delete("/{memory_id}", response_model=Deleted)
async def delete_memory(
    memory_store_id: str,
    memory_id: str,
    request: Request,
    db: DbDep,
    expected_content_sha256: Sha256 | None = None,
) -> dict[str, Any]:
    """Delete a memory, optionally only if its content still has a given digest."""
    async with db.write() as session:
        await store.delete_memory(session, memory_store_id, memory_id, expected_content_sha256, api_actor(request))
    return {"id": memory_id, "type": "memory_deleted"}
