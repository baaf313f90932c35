"""Routes for vaults (API_CONTRACT.md §2.0, §2.6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import DbDep
from api.routes.agents import next_page, page_after
from dma.schemas.vaults import VaultCreate, VaultDeleted, VaultOut, VaultPage, VaultUpdate
from dma.store import vaults as store

router = APIRouter(prefix="/v1/vaults", tags=["vaults"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=VaultOut)
async def create_vault(body: VaultCreate, db: DbDep) -> dict[str, Any]:
    """Create a vault."""
    return await store.create_vault(db, body)


@router.get("", response_model=VaultPage)
async def list_vaults(
    db: DbDep, limit: Limit = 20, include_archived: bool = False, page: str | None = None
) -> dict[str, Any]:
    """List vaults, newest first."""
    data, position = await store.list_vaults(db, limit=limit, include_archived=include_archived, after=page_after(page))
    return {"data": data, "next_page": next_page(position)}


@router.get("/{vault_id}", response_model=VaultOut)
async def retrieve_vault(vault_id: str, db: DbDep) -> dict[str, Any]:
    """Get a vault."""
    return await store.get_vault(db, vault_id)


@router.post("/{vault_id}", response_model=VaultOut)
async def update_vault(vault_id: str, body: VaultUpdate, db: DbDep) -> dict[str, Any]:
    """Rename a vault or change its metadata."""
    return await store.update_vault(db, vault_id, body)


@router.delete("/{vault_id}", response_model=VaultDeleted)
async def delete_vault(vault_id: str, db: DbDep) -> dict[str, str]:
    """Delete a vault and its credentials."""
    return await store.delete_vault(db, vault_id)


@router.post("/{vault_id}/archive", response_model=VaultOut)
async def archive_vault(vault_id: str, db: DbDep) -> dict[str, Any]:
    """Archive a vault: its credentials are archived and their secrets purged."""
    return await store.archive_vault(db, vault_id)
