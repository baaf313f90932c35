"""The ``CredentialSource`` of a worker: a session's ``environment_variable`` credentials, read from its vaults.

Called by the provisioning activity when a sandbox starts, with the session id only: the vault ids, the credentials
and their sealed values are read here from the database and opened with the worker's keyring, so no secret passes
through workflow history. Archived credentials (their secrets purged, ``active_key`` cleared) and deleted ones are
not found; a vault's credentials are archived with it. When two of a session's vaults hold the same ``secret_name``,
the first in ``vault_ids`` order wins, as for MCP servers (``activities/mcp/credentials.py``). Before each tunnel it
would intercept, the proxy asks again (``current``), so a credential archived, deleted or changed while its sandbox
runs is never used in its old form.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from activities.sandboxes.egress.credentials import CredentialsUnavailable, SessionSecret, stable_placeholder
from dma.crypto import Keyring, SecretUnavailable
from dma.store.credentials import open_secrets
from dma.store.engine import Database
from dma.store.tables import Session, VaultCredential

logger = logging.getLogger(__name__)
AUTH_TYPE = "environment_variable"


def session_secret(session_id: str, row: VaultCredential, value: str) -> SessionSecret:
    """The proxy's view of one credential row (``auth`` in its response form) with its opened ``value``."""
    auth = row.auth
    networking = cast(dict[str, Any], auth.get("networking") or {})
    injection = cast(dict[str, Any], auth.get("injection_location") or {})
    hosts = networking.get("allowed_hosts") if networking.get("type") == "limited" else None
    name = str(auth["secret_name"])
    return SessionSecret(
        secret_name=name,
        placeholder=stable_placeholder(name, session_id, row.id),
        secret_value=value,
        allowed_hosts=None if hosts is None else tuple(str(host) for host in cast(list[Any], hosts)),
        header=bool(injection.get("header", True)),
        body=bool(injection.get("body", True)),
        credential_id=row.id,
    )


class VaultCredentials:
    """``environment_variable`` credentials of sessions, from the vault store (one per worker)."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    async def secrets_for(self, session_id: str) -> Sequence[SessionSecret]:
        """The live ``environment_variable`` credentials of the session's vaults, one per ``secret_name``."""
        async with self._db.read() as db:
            session = await db.get(Session, session_id)
            vault_ids = list(session.vault_ids or []) if session is not None else []
            if not vault_ids:
                return ()
            statement = select(VaultCredential).where(
                col(VaultCredential.vault_id).in_(vault_ids),
                col(VaultCredential.auth_type) == AUTH_TYPE,
                col(VaultCredential.archived_at).is_(None),
                col(VaultCredential.sealed).is_not(None),
            )
            rows = list((await db.exec(statement)).all())
        rows.sort(key=lambda row: (vault_ids.index(row.vault_id), row.created_at, row.id))
        chosen: dict[str, SessionSecret] = {}
        for row in rows:
            name = str(row.auth.get("secret_name", ""))
            if not name or name in chosen:
                continue
            try:
                value = open_secrets(self._keyring, row).get("secret_value")
            except SecretUnavailable as err:
                # The sandbox starts without this variable rather than not at all; the operator sees why.
                logger.warning("credential %s of session %s is not in its sandbox: %s", row.id, session_id, err)
                continue
            if value is not None:
                chosen[name] = session_secret(session_id, row, value)
        return tuple(chosen.values())

    async def current(self, session_id: str, secrets: Sequence[SessionSecret]) -> Sequence[SessionSecret]:
        """Those of ``secrets`` not archived or deleted since, with their value and networking as stored now.

        Raises:
            CredentialsUnavailable: when the database cannot be read.
        """
        ids = [secret.credential_id for secret in secrets]
        statement = select(VaultCredential).where(
            col(VaultCredential.id).in_(ids),
            col(VaultCredential.archived_at).is_(None),
            col(VaultCredential.sealed).is_not(None),
        )
        try:
            async with self._db.read() as db:
                rows = {row.id: row for row in (await db.exec(statement)).all()}
        except (SQLAlchemyError, OSError) as err:
            raise CredentialsUnavailable(f"the vault store cannot be read: {type(err).__name__}") from None
        live: list[SessionSecret] = []
        for credential_id in ids:
            row = rows.get(credential_id)
            try:
                value = open_secrets(self._keyring, row).get("secret_value") if row is not None else None
            except SecretUnavailable:
                value = None
            if row is not None and value is not None:
                live.append(session_secret(session_id, row, value))
        return live
