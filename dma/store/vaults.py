"""Vault queries (API_CONTRACT.md §2.6). Archiving a vault archives its credentials and purges their secrets.

Functions return response dicts and raise ``dma.schemas.common`` domain errors, which the API maps onto its envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc, utcnow
from dma.ids import is_id, new_id
from dma.schemas.common import NotFoundError, SchemaError, check_metadata, merge_metadata
from dma.schemas.vaults import VaultCreate, VaultUpdate, vault_response
from dma.store.engine import Database
from dma.store.keyset import Position, page_query
from dma.store.tables import Vault, VaultCredential


async def vault_row(session: AsyncSession, vault_id: str) -> Vault:
    """The vault, archived or not.

    Raises:
        NotFoundError: when there is no such vault.
    """
    row = await session.get(Vault, vault_id) if is_id(vault_id, "vlt") else None
    if row is None:
        raise NotFoundError("vault", vault_id)
    return row


async def create_vault(db: Database, request: VaultCreate) -> dict[str, Any]:
    """Store a new vault.

    Raises:
        SchemaError: when the metadata breaks the limits.
    """
    now = utcnow()
    row = Vault(
        id=new_id("vlt"),
        display_name=request.display_name,
        meta=check_metadata(request.metadata or {}),
        created_at=now,
        updated_at=now,
    )
    async with db.write() as session:
        session.add(row)
    return vault_response(row)


async def get_vault(db: Database, vault_id: str) -> dict[str, Any]:
    """A vault.

    Raises:
        NotFoundError: when there is no such vault.
    """
    async with db.read() as session:
        return vault_response(await vault_row(session, vault_id))


async def update_vault(db: Database, vault_id: str, request: VaultUpdate) -> dict[str, Any]:
    """Rename a vault or patch its metadata; ``updated_at`` moves only when something changes.

    Raises:
        NotFoundError: when there is no such vault.
        SchemaError: when the vault is archived or the metadata breaks the limits.
    """
    async with db.write() as session:
        row = await vault_row(session, vault_id)
        if row.archived_at is not None:
            raise SchemaError(f"vault {vault_id!r} is archived and cannot be changed")
        name = request.display_name if request.display_name is not None else row.display_name
        meta = merge_metadata(row.meta or {}, request.metadata) if request.metadata is not None else row.meta
        if (name, meta) != (row.display_name, row.meta):
            row.display_name, row.meta, row.updated_at = name, meta, utcnow()
            session.add(row)
    return vault_response(row)


async def archive_vault(db: Database, vault_id: str) -> dict[str, Any]:
    """Archive a vault and its credentials, purging every secret (one-way; again changes nothing).

    Raises:
        NotFoundError: when there is no such vault.
    """
    async with db.write() as session:
        row = await vault_row(session, vault_id)
        if row.archived_at is None:
            now = utcnow()
            row.archived_at = row.updated_at = now
            session.add(row)
            await session.exec(
                update(VaultCredential)
                .where(col(VaultCredential.vault_id) == vault_id, col(VaultCredential.archived_at).is_(None))
                .values(archived_at=now, updated_at=now)
            )
            await session.exec(
                update(VaultCredential)
                .where(col(VaultCredential.vault_id) == vault_id)
                .values(**PURGED, version=col(VaultCredential.version) + 1)
            )
    return vault_response(row)


# What a credential keeps of its secret once archived: nothing (and its identifying key is free again).
PURGED: dict[str, Any] = {"sealed": None, "key_id": None, "active_key": None, "refresh_lease": None}


async def delete_vault(db: Database, vault_id: str) -> dict[str, str]:
    """Delete a vault and its credentials for good.

    Raises:
        NotFoundError: when there is no such vault.
    """
    async with db.write() as session:
        row = await vault_row(session, vault_id)
        await session.exec(delete(VaultCredential).where(col(VaultCredential.vault_id) == vault_id))
        await session.delete(row)
    return {"id": vault_id, "type": "vault_deleted"}


async def list_vaults(
    db: Database, *, limit: int, include_archived: bool = False, after: Position | None = None
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of vaults, newest first, and the position after it (None on the last page)."""
    statement = select(Vault)
    if not include_archived:
        statement = statement.where(col(Vault.archived_at).is_(None))
    statement = page_query(statement, col(Vault.created_at), col(Vault.id), limit=limit, after=after)
    async with db.read() as session:
        rows = list((await session.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return [vault_response(row) for row in rows[:limit]], position


async def check_session_vaults(session: AsyncSession, vault_ids: Sequence[str]) -> list[str]:
    """The vault ids a new session may use, in the order given.

    Raises:
        NotFoundError: when one does not exist.
        SchemaError: when one is archived or appears twice.
    """
    if len(set(vault_ids)) != len(vault_ids):
        raise SchemaError("vault_ids lists a vault more than once")
    for vault_id in vault_ids:
        row = await vault_row(session, vault_id)
        if row.archived_at is not None:
            raise SchemaError(f"vault {vault_id!r} is archived; new sessions cannot use it")
    return list(vault_ids)
