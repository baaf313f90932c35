"""Finds the credential for an MCP server among a session's vaults, opens it on the worker, refreshes OAuth tokens.

A credential matches a server when its ``mcp_server_url`` equals the agent's server URL (compared normalized); the
first of the session's vaults, in ``vault_ids`` order, that has one wins. Secrets are opened here and handed only
to the HTTP client as the ``Authorization`` header: they never enter an event, a log line or workflow history.

Refreshing (before expiry, or after a 401) is done by one worker at a time: it takes a short lease on the row with a
compare-and-swap on ``version``, calls the token endpoint outside any transaction, and writes the new tokens back
with a second compare-and-swap, which also bumps ``version``. A worker that finds the lease taken waits until the
version moves and uses the tokens the other one stored, so each refresh is sealed back exactly once and the token
endpoint sees the refresh token once (providers that rotate refresh tokens revoke a reused one).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from activities.mcp.oauth import RefreshFailed, RefreshUnreachable, TokenGrant, exchange
from dma.clock import rfc3339, utcnow
from dma.crypto import Keyring, SecretUnavailable
from dma.schemas.credential_auth import normalize_server_url
from dma.store.credentials import open_secrets, seal_context
from dma.store.engine import Database
from dma.store.tables import VaultCredential
from workflows.contracts import RefreshOutcome

# Refresh this long before the stored expiry, so a call never starts with a token about to lapse.
EXPIRY_MARGIN = timedelta(seconds=60)
LEASE = timedelta(seconds=30)
WAIT_FOR_OTHER = timedelta(seconds=20)
POLL_SECONDS = 0.1
MCP_AUTH_TYPES = ("static_bearer", "mcp_oauth")


class CredentialUnusable(Exception):
    """The credential cannot give a working token (refresh refused or impossible, secret unreadable).

    ``refresh`` says how a refresh attempt ended, when one was made (for the validation probe).
    """

    def __init__(self, message: str, refresh: RefreshOutcome | None = None) -> None:
        super().__init__(message)
        self.refresh = refresh


@dataclass(frozen=True)
class Bearer:
    """What to send as ``Authorization: Bearer`` (``token`` None: no credential matches the server)."""

    token: str | None
    credential_id: str | None = None
    version: int = 0
    refreshable: bool = False


def _expiring(row: VaultCredential, now: datetime) -> bool:
    raw = row.auth.get("expires_at")
    if not isinstance(raw, str):
        return False
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) - EXPIRY_MARGIN <= now


async def _swap(db: Database, statement: Any) -> bool:
    async with db.write() as session:
        result = await (await session.connection()).execute(statement)
    return result.rowcount == 1


class CredentialResolver:
    """Bearer tokens for MCP servers, from a session's vaults (one per worker; stateless between calls)."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    async def find(self, vault_ids: Sequence[str], server_url: str) -> VaultCredential | None:
        """The live credential for ``server_url`` in the first of ``vault_ids`` that has one."""
        if not vault_ids:
            return None
        statement = select(VaultCredential).where(
            col(VaultCredential.vault_id).in_(list(vault_ids)),
            col(VaultCredential.active_key) == "mcp:" + normalize_server_url(server_url),
            col(VaultCredential.auth_type).in_(MCP_AUTH_TYPES),
            col(VaultCredential.archived_at).is_(None),
        )
        async with self._db.read() as session:
            rows = {row.vault_id: row for row in (await session.exec(statement)).all()}
        return next((rows[vault_id] for vault_id in vault_ids if vault_id in rows), None)

    async def bearer(self, vault_ids: Sequence[str], server_url: str) -> Bearer:
        """The token to call ``server_url`` with, refreshed first when it is about to expire.

        Raises:
            CredentialUnusable: when the secret cannot be opened or a needed refresh fails.
        """
        row = await self.find(vault_ids, server_url)
        if row is None:
            return Bearer(None)
        if row.auth_type == "mcp_oauth" and row.auth.get("refresh") and _expiring(row, utcnow()):
            row = await self.refresh(row.id, row.version)
        return self._bearer(row)

    async def after_unauthorized(self, bearer: Bearer) -> Bearer | None:
        """A new token after the server refused ``bearer`` (None when the credential cannot refresh).

        Raises:
            CredentialUnusable: when the refresh fails.
        """
        if not bearer.refreshable or bearer.credential_id is None:
            return None
        return self._bearer(await self.refresh(bearer.credential_id, bearer.version))

    def _bearer(self, row: VaultCredential) -> Bearer:
        try:
            opened = open_secrets(self._keyring, row)
        except SecretUnavailable as err:
            raise CredentialUnusable(f"credential {row.id}: {err}") from None
        token = opened.get("token") or opened.get("access_token")
        refreshable = row.auth_type == "mcp_oauth" and bool(row.auth.get("refresh")) and "refresh_token" in opened
        return Bearer(token, row.id, row.version, refreshable)

    async def refresh(self, credential_id: str, seen_version: int) -> VaultCredential:
        """The row after a refresh of the tokens of version ``seen_version`` (this worker's, or another's).

        Raises:
            CredentialUnusable: when the credential is gone or archived, or the token endpoint refuses.
        """
        deadline = utcnow() + WAIT_FOR_OTHER
        while True:
            row = await self._row(credential_id)
            if row.version != seen_version:
                return row
            now = utcnow()
            lease = secrets.token_hex(16)
            if await self._claim(row, lease, now):
                return await self._refresh_claimed(row, lease)
            if now > deadline:
                raise CredentialUnusable(f"credential {credential_id}: another worker's refresh did not finish")
            await asyncio.sleep(POLL_SECONDS)

    async def _row(self, credential_id: str) -> VaultCredential:
        async with self._db.read() as session:
            row = await session.get(VaultCredential, credential_id)
        if row is None or row.archived_at is not None or row.sealed is None:
            raise CredentialUnusable(f"credential {credential_id} was archived or deleted")
        return row

    async def _claim(self, row: VaultCredential, lease: str, now: datetime) -> bool:
        statement = (
            update(VaultCredential)
            .where(
                col(VaultCredential.id) == row.id,
                col(VaultCredential.version) == row.version,
                or_(col(VaultCredential.refresh_lease).is_(None), col(VaultCredential.refresh_lease_until) < now),
            )
            .values(refresh_lease=lease, refresh_lease_until=now + LEASE)
        )
        return await _swap(self._db, statement)

    async def _refresh_claimed(self, row: VaultCredential, lease: str) -> VaultCredential:
        try:
            old = open_secrets(self._keyring, row)
            grant = await exchange(row.auth["refresh"], old)
        except (RefreshFailed, RefreshUnreachable, SecretUnavailable) as err:
            await self._release(row, lease)
            if isinstance(err, RefreshFailed):
                outcome = RefreshOutcome(status="failed", http_response=err.capture)
            else:
                outcome = RefreshOutcome(status="connect_error") if isinstance(err, RefreshUnreachable) else None
            message = f"credential {row.id}: refreshing the access token failed: {err}"
            raise CredentialUnusable(message, outcome) from None
        except BaseException:
            await asyncio.shield(self._release(row, lease))
            raise
        await self._store(row, lease, old, grant)
        return await self._row(row.id)

    async def _store(self, row: VaultCredential, lease: str, old: dict[str, str], grant: TokenGrant) -> None:
        new = {**old, "access_token": grant.access_token}
        if grant.refresh_token is not None:
            new["refresh_token"] = grant.refresh_token
        auth = {key: value for key, value in row.auth.items() if key != "expires_at"}
        now = utcnow()
        if grant.expires_in is not None:
            auth["expires_at"] = rfc3339(now + timedelta(seconds=grant.expires_in))
        sealed = self._keyring.seal_json(dict(new), seal_context(row.id))
        statement = (
            update(VaultCredential)
            .where(
                col(VaultCredential.id) == row.id,
                col(VaultCredential.version) == row.version,
                col(VaultCredential.refresh_lease) == lease,
            )
            .values(
                sealed=sealed.blob,
                key_id=sealed.key_id,
                auth=auth,
                version=row.version + 1,
                refresh_lease=None,
                refresh_lease_until=None,
                updated_at=now,
            )
        )
        if not await _swap(self._db, statement):
            # The row changed under us (a client's update, or our lease ran out): theirs wins, ours is dropped.
            return

    async def _release(self, row: VaultCredential, lease: str) -> None:
        statement = (
            update(VaultCredential)
            .where(col(VaultCredential.id) == row.id, col(VaultCredential.refresh_lease) == lease)
            .values(refresh_lease=None, refresh_lease_until=None)
        )
        await _swap(self._db, statement)
