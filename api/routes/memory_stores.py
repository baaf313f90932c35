"""Memory stores (API_CONTRACT.md §2.7, beta ``agent-memory-2026-07-22``): CRUD, list, archive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import DbDep
from api.query import time_filters
from api.routes.agents import next_page, page_after
from dma.clock import utcnow
from dma.ids import new_id
from dma.schemas.common import SchemaError, check_metadata
from dma.schemas.memory import (
    Deleted,
    MemoryStoreCreate,
    MemoryStoreOut,
    MemoryStorePage,
    MemoryStoreUpdate,
    store_response,
)
from dma.store import memory as store
from dma.store.tables import MemoryStore

router = APIRouter(prefix="/v1/memory_stores", tags=["memory stores"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=MemoryStoreOut)
async def create_memory_store(body: MemoryStoreCreate, db: DbDep) -> dict[str, Any]:
    """Create a memory store."""
    now = utcnow()
    row = MemoryStore(
        id=new_id("memstore"),
        name=body.name,
        description=body.description or "",
        meta=check_metadata(body.metadata or {}),
        created_at=now,
        updated_at=now,
    )
    async with db.write() as session:
        session.add(row)
    return store_response(row)


@router.get("", response_model=MemoryStorePage)
async def list_memory_stores(
    request: Request, db: DbDep, limit: Limit = 20, include_archived: bool = False, page: str | None = None
) -> dict[str, Any]:
    """List memory stores, newest first."""
    async with db.read() as session:
        rows, position = await store.stores_page(
            session,
            limit=limit,
            include_archived=include_archived,
            created=time_filters(request),
            after=page_after(page),
        )
    return {"data": [store_response(row) for row in rows], "next_page": next_page(position)}


@router.get("/{memory_store_id}", response_model=MemoryStoreOut)
async def retrieve_memory_store(memory_store_id: str, db: DbDep) -> dict[str, Any]:
    """Get a memory store."""
    async with db.read() as session:
        return store_response(await store.get_store(session, memory_store_id))


@router.post("/{memory_store_id}", response_model=MemoryStoreOut)
async def update_memory_store(memory_store_id: str, body: MemoryStoreUpdate, db: DbDep) -> dict[str, Any]:
    """Update a store's name, description or metadata (merged per key)."""
    sent = {key: getattr(body, key) for key in body.model_fields_set}
    async with db.write() as session:
        row = await store.get_store(session, memory_store_id, lock=True)
        if row.archived_at is not None:
            raise SchemaError(f"memory store {memory_store_id!r} is archived and cannot be updated")
        changes = store.store_changes(row, sent)
        if "meta" in changes:
            check_metadata(changes["meta"])
        if changes:
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
    return store_response(row)


@router.post("/{memory_store_id}/archive", response_model=MemoryStoreOut)
async def archive_memory_store(memory_store_id: str, db: DbDep) -> dict[str, Any]:
    """Archive a store (one-way): its memories stay readable and deletable, no longer writable."""
    async with db.write() as session:
        row = await store.get_store(session, memory_store_id, lock=True)
        if row.archived_at is None:
            row.archived_at = row.updated_at = utcnow()
            session.add(row)
    return store_response(row)


@router.delete("/{memory_store_id}", response_model=Deleted)
async def delete_memory_store(memory_store_id: str, db: DbDep) -> dict[str, Any]:
    """Delete a store with all its memories and versions."""
    async with db.write() as session:
        await store.delete_store(session, memory_store_id)
    return {"id": memory_store_id, "type": "memory_store_deleted"}
