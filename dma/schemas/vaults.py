"""Vault requests and responses (API_CONTRACT.md §2.6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints

from dma.clock import rfc3339
from dma.schemas.common import Page, RequestModel
from dma.store.tables import Vault

VaultName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]


class VaultCreate(RequestModel):
    """Body of ``POST /v1/vaults``."""

    display_name: VaultName
    metadata: dict[str, str] | None = None


class VaultUpdate(RequestModel):
    """Body of ``POST /v1/vaults/{id}``: absent keys keep their value; a metadata value of null deletes the key."""

    display_name: VaultName | None = None
    metadata: dict[str, str | None] | None = None


def vault_response(row: Vault) -> dict[str, Any]:
    """The ``vault`` object."""
    return {
        "id": row.id,
        "type": "vault",
        "display_name": row.display_name,
        "metadata": row.meta or {},
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "archived_at": rfc3339(row.archived_at),
    }


class VaultOut(BaseModel):
    """Response model of a vault (documents the shape in OpenAPI)."""

    id: str
    type: Literal["vault"]
    display_name: str
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    archived_at: str | None = None


VaultPage = Page[VaultOut]


class VaultDeleted(BaseModel):
    id: str
    type: Literal["vault_deleted"] = "vault_deleted"
