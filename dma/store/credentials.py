"""Vault credential queries (API_CONTRACT.md §2.6): the secrets are sealed here, before anything is written.

Plaintext secrets exist only in memory between the request and ``Keyring.seal``; rows hold the ciphertext, the id of
the key that sealed it, and the response form of ``auth``. Every change of the sealed part bumps ``version``, which
token refreshes and re-sealing compare and swap on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc, utcnow
from dma.crypto import Keyring, Sealed
from dma.ids import is_id, new_id
from dma.schemas.common import ConflictError, NotFoundError, SchemaError, check_metadata, merge_metadata
from dma.schemas.credentials import (
    CredentialCreate,
    CredentialUpdate,
    Secrets,
    credential_response,
    identifying_key,
    new_auth,
    updated_auth,
)
from dma.store.engine import Database
from dma.store.keyset import Position, page_query
from dma.store.tables import VaultCredential
from dma.store.vaults import PURGED, vault_row


def seal_context(credential_id: str) -> str:
    """What a credential's ciphertext is bound to (GCM associated data): it opens on this row only."""
    return f"vault_credential/{credential_id}"


def open_secrets(keyring: Keyring, row: VaultCredential) -> Secrets:
    """The plaintext secrets of a live credential (empty once archived).

    Raises:
        SecretUnavailable: when the key that sealed them is not in ``keyring`` or the ciphertext is damaged.
    """
    if row.sealed is None or row.key_id is None:
        return {}
    opened = keyring.open_json(Sealed(row.key_id, row.sealed), seal_context(row.id))
    return {str(key): str(value) for key, value in opened.items()}


def seal_secrets(keyring: Keyring, row: VaultCredential, secrets: Secrets) -> None:
    """Seal ``secrets`` onto the row under the current key and move its version on."""
    sealed = keyring.seal_json(dict(secrets), seal_context(row.id))
    row.sealed, row.key_id = sealed.blob, sealed.key_id
    row.version += 1


async def _credential(session: AsyncSession, vault_id: str, credential_id: str) -> VaultCredential:
    await vault_row(session, vault_id)
    row = await session.get(VaultCredential, credential_id) if is_id(credential_id, "vcrd") else None
    if row is None or row.vault_id != vault_id:
        raise NotFoundError("credential", credential_id)
    return row


async def _check_free(session: AsyncSession, vault_id: str, key: str, own_id: str | None = None) -> None:
    statement = select(VaultCredential.id).where(
        VaultCredential.vault_id == vault_id, VaultCredential.active_key == key
    )
    holder = (await session.exec(statement)).first()
    if holder is not None and holder != own_id:
        what = "secret_name" if key.startswith("env:") else "mcp_server_url"
        raise ConflictError(f"vault {vault_id!r} already has a live credential {holder!r} for this {what}")


async def create_credential(db: Database, keyring: Keyring, vault_id: str, request: CredentialCreate) -> dict[str, Any]:
    """Seal and store a new credential.

    Raises:
        NotFoundError: when the vault does not exist.
        SchemaError: when the vault is archived or a rule is broken.
        ConflictError: when the vault already has a live credential for the same server URL or secret name.
    """
    public, secrets = new_auth(request.auth)
    now = utcnow()
    row = VaultCredential(
        id=new_id("vcrd"),
        vault_id=vault_id,
        auth_type=public["type"],
        auth=public,
        display_name=request.display_name,
        meta=check_metadata(request.metadata or {}),
        active_key=identifying_key(public),
        version=0,
        created_at=now,
        updated_at=now,
    )
    seal_secrets(keyring, row, secrets)
    try:
        async with db.write() as session:
            vault = await vault_row(session, vault_id)
            if vault.archived_at is not None:
                raise SchemaError(f"vault {vault_id!r} is archived; it takes no new credentials")
            await _check_free(session, vault_id, str(row.active_key))
            session.add(row)
    except IntegrityError:
        raise ConflictError(f"vault {vault_id!r} already has a live credential for this server or name") from None
    return credential_response(row)


async def get_credential(db: Database, vault_id: str, credential_id: str) -> dict[str, Any]:
    """A credential (never its secrets).

    Raises:
        NotFoundError: when the vault or the credential (in that vault) does not exist.
    """
    async with db.read() as session:
        return credential_response(await _credential(session, vault_id, credential_id))


async def update_credential(
    db: Database, keyring: Keyring, vault_id: str, credential_id: str, request: CredentialUpdate
) -> dict[str, Any]:
    """Apply an update; new secrets are sealed under the current key. ``updated_at`` moves only on a change.

    Raises:
        NotFoundError: when the vault or the credential does not exist.
        SchemaError: when either is archived, the auth type changes, or a rule is broken.
    """
    async with db.write() as session:
        row = await _credential(session, vault_id, credential_id)
        if row.archived_at is not None:
            raise SchemaError(f"credential {credential_id!r} is archived and cannot be changed")
        changed = False
        if request.auth is not None:
            secrets = open_secrets(keyring, row)
            public, new_secrets = updated_auth(request.auth, row.auth, secrets)
            if public != row.auth:
                row.auth, changed = public, True
            if new_secrets != secrets:
                seal_secrets(keyring, row, new_secrets)
                changed = True
        if "display_name" in request.model_fields_set and request.display_name != row.display_name:
            row.display_name, changed = request.display_name, True
        if request.metadata is not None:
            merged = merge_metadata(row.meta or {}, request.metadata)
            if merged != (row.meta or {}):
                row.meta, changed = merged, True
        if changed:
            row.updated_at = utcnow()
            session.add(row)
    return credential_response(row)


async def archive_credential(db: Database, vault_id: str, credential_id: str) -> dict[str, Any]:
    """Archive a credential: its secret is purged and its server URL or name is free for a new one.

    Raises:
        NotFoundError: when the vault or the credential does not exist.
    """
    async with db.write() as session:
        row = await _credential(session, vault_id, credential_id)
        if row.archived_at is None:
            row.archived_at = row.updated_at = utcnow()
            for key, value in PURGED.items():
                setattr(row, key, value)
            row.version += 1
            session.add(row)
    return credential_response(row)


async def delete_credential(db: Database, vault_id: str, credential_id: str) -> dict[str, str]:
    """Delete a credential for good.

    Raises:
        NotFoundError: when the vault or the credential does not exist.
    """
    async with db.write() as session:
        await session.delete(await _credential(session, vault_id, credential_id))
    return {"id": credential_id, "type": "vault_credential_deleted"}


async def list_credentials(
    db: Database, vault_id: str, *, limit: int, include_archived: bool = False, after: Position | None = None
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of a vault's credentials, newest first, and the position after it (None on the last page).

    Raises:
        NotFoundError: when the vault does not exist.
    """
    statement = select(VaultCredential).where(VaultCredential.vault_id == vault_id)
    if not include_archived:
        statement = statement.where(col(VaultCredential.archived_at).is_(None))
    created_at, ident = col(VaultCredential.created_at), col(VaultCredential.id)
    statement = page_query(statement, created_at, ident, limit=limit, after=after)
    async with db.read() as session:
        await vault_row(session, vault_id)
        rows = list((await session.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return [credential_response(row) for row in rows[:limit]], position


async def credential_row(db: Database, vault_id: str, credential_id: str) -> VaultCredential:
    """The stored row (for the validation probe, which needs the auth type and state).

    Raises:
        NotFoundError: when the vault or the credential does not exist.
    """
    async with db.read() as session:
        return await _credential(session, vault_id, credential_id)
