"""Routes for vault credentials (API_CONTRACT.md §2.0, §2.6). Secrets are write-only: no response carries one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import credential_probe
from api.deps import DbDep, StateDep
from api.routes.agents import next_page, page_after
from dma.schemas.credentials import (
    CredentialCreate,
    CredentialDeleted,
    CredentialOut,
    CredentialPage,
    CredentialUpdate,
    CredentialValidationOut,
)
from dma.store import credentials as store

router = APIRouter(prefix="/v1/vaults/{vault_id}/credentials", tags=["vaults"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=CredentialOut)
async def create_credential(vault_id: str, body: CredentialCreate, state: StateDep) -> dict[str, Any]:
    """Store a credential; its secrets are sealed before they are written."""
    return await store.create_credential(state.db, state.keyring, vault_id, body)


@router.get("", response_model=CredentialPage)
async def list_credentials(
    vault_id: str, db: DbDep, limit: Limit = 20, include_archived: bool = False, page: str | None = None
) -> dict[str, Any]:
    """List a vault's credentials, newest first."""
    data, position = await store.list_credentials(
        db, vault_id, limit=limit, include_archived=include_archived, after=page_after(page)
    )
    return {"data": data, "next_page": next_page(position)}


@router.get("/{credential_id}", response_model=CredentialOut)
async def retrieve_credential(vault_id: str, credential_id: str, db: DbDep) -> dict[str, Any]:
    """Get a credential (without its secrets)."""
    return await store.get_credential(db, vault_id, credential_id)


@router.post("/{credential_id}", response_model=CredentialOut)
async def update_credential(
    vault_id: str, credential_id: str, body: CredentialUpdate, state: StateDep
) -> dict[str, Any]:
    """Update a credential; its auth type and identifying fields stay."""
    return await store.update_credential(state.db, state.keyring, vault_id, credential_id, body)


@router.delete("/{credential_id}", response_model=CredentialDeleted)
async def delete_credential(vault_id: str, credential_id: str, db: DbDep) -> dict[str, str]:
    """Delete a credential."""
    return await store.delete_credential(db, vault_id, credential_id)


@router.post("/{credential_id}/archive", response_model=CredentialOut)
async def archive_credential(vault_id: str, credential_id: str, db: DbDep) -> dict[str, Any]:
    """Archive a credential: its secret is purged."""
    return await store.archive_credential(db, vault_id, credential_id)


@router.post("/{credential_id}/mcp_oauth_validate", response_model=CredentialValidationOut)
async def validate_credential(vault_id: str, credential_id: str, state: StateDep) -> dict[str, Any]:
    """Probe an mcp_oauth credential against its MCP server (refreshing on a 401), on a worker."""
    return await credential_probe.validate(state, vault_id, credential_id)
