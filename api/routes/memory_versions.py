"""Memory versions (API_CONTRACT.md §2.7): the immutable history of a store's writes; list, retrieve, redact."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from api.auth import api_actor
from api.deps import DbDep
from api.query import time_filters
from api.routes.agents import next_page, page_after
from dma.schemas.memory import MemoryVersionOut, MemoryVersionPage, View, version_response
from dma.store import memory as store
from dma.store.memory import VersionFilter

router = APIRouter(prefix="/v1/memory_stores/{memory_store_id}/memory_versions", tags=["memory versions"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100 (at most 20 with view=full).")]
Operation = Literal["created", "modified", "deleted"]


@router.get("", response_model=MemoryVersionPage)
async def list_memory_versions(
    memory_store_id: str,
    request: Request,
    db: DbDep,
    limit: Limit = 20,
    page: str | None = None,
    memory_id: str | None = None,
    operation: Operation | None = None,
    session_id: str | None = None,
    api_key_id: str | None = None,
    service_account_id: str | None = None,
    view: View = "basic",
) -> dict[str, Any]:
    """List a store's versions, newest first."""
    if view == "full":
        limit = min(limit, 20)
    filters = VersionFilter(
        memory_id=memory_id,
        operation=operation,
        session_id=session_id,
        api_key_id=api_key_id,
        created=time_filters(request),
    )
    async with db.read() as session:
        await store.get_store(session, memory_store_id)
        if service_account_id is not None:
            # No write here is ever made by a service account.
            return {"data": [], "next_page": None}
        rows, position = await store.versions_page(session, memory_store_id, filters, limit, page_after(page))
    return {"data": [version_response(row, view) for row in rows], "next_page": next_page(position)}


@router.get("/{memory_version_id}", response_model=MemoryVersionOut)
async def retrieve_memory_version(
    memory_store_id: str, memory_version_id: str, db: DbDep, view: View = "full"
) -> dict[str, Any]:
    """Get a version (with its content by default)."""
    async with db.read() as session:
        await store.get_store(session, memory_store_id)
        return version_response(await store.get_version(session, memory_store_id, memory_version_id), view)


@router.post("/{memory_version_id}/redact", response_model=MemoryVersionOut)
async def redact_memory_version(
    memory_store_id: str, memory_version_id: str, request: Request, db: DbDep
) -> dict[str, Any]:
    """Erase a version's content, digest, size and path for good."""
    async with db.write() as session:
        row = await store.redact_version(session, memory_store_id, memory_version_id, api_actor(request))
    return version_response(row, "full")
