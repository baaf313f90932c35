"""``mcp_oauth_validate``: try an ``mcp_oauth`` credential against its MCP server, refreshing on a 401.

Verdicts: ``valid`` when the server lists its tools with the stored (or freshly refreshed) access token; ``invalid``
when it refuses the token and no refresh fixes it; ``unknown`` when the server or the token endpoint cannot be
reached, so nothing can be said. A successful refresh is stored like any other (sealed back exactly once). Captured
responses are truncated and scrubbed of the credential's secrets before they leave the worker.
"""

from __future__ import annotations

import httpx2

from activities.mcp.connection import McpFailure, McpUnauthorized, McpUnreachable, list_tools
from activities.mcp.credentials import CredentialResolver, CredentialUnusable
from activities.mcp.oauth import capture
from dma.crypto import Keyring, SecretUnavailable
from dma.store.credentials import open_secrets
from dma.store.engine import Database
from dma.store.tables import VaultCredential
from workflows.contracts import CredentialProbe, ProbeFailure, ProbeReply, RefreshOutcome


def _failure(error: McpFailure, secrets: dict[str, str]) -> ProbeFailure:
    response: httpx2.Response | None = error.response
    return ProbeFailure(method=error.method, http_response=capture(response, secrets) if response else None)


async def _try(url: str, token: str | None, secrets: dict[str, str]) -> tuple[ProbeFailure | None, McpFailure | None]:
    try:
        await list_tools(url, token)
    except McpFailure as error:
        return _failure(error, secrets), error
    return None, None


async def probe(db: Database, keyring: Keyring, resolver: CredentialResolver, req: CredentialProbe) -> ProbeReply:
    """The verdict on one credential (a gone or non-OAuth one is ``invalid``)."""
    async with db.read() as session:
        row = await session.get(VaultCredential, req.credential_id)
    if row is None or row.vault_id != req.vault_id or row.auth_type != "mcp_oauth" or row.archived_at is not None:
        return ProbeReply(status="invalid", has_refresh_token=False)
    try:
        secrets = open_secrets(keyring, row)
    except SecretUnavailable:
        return ProbeReply(status="unknown", has_refresh_token=False)
    has_refresh = bool(row.auth.get("refresh")) and bool(secrets.get("refresh_token"))
    url = str(row.auth["mcp_server_url"])
    failed, error = await _try(url, secrets.get("access_token"), secrets)
    if error is None:
        return ProbeReply(status="valid", has_refresh_token=has_refresh)
    if not isinstance(error, McpUnauthorized):
        verdict = "unknown" if isinstance(error, McpUnreachable) else "invalid"
        return ProbeReply(status=verdict, has_refresh_token=has_refresh, mcp_probe=failed)
    if not has_refresh:
        refresh = RefreshOutcome(status="no_refresh_token")
        return ProbeReply(status="invalid", has_refresh_token=False, refresh=refresh, mcp_probe=failed)
    try:
        fresh = await resolver.refresh(row.id, row.version)
    except CredentialUnusable as err:
        refresh = err.refresh or RefreshOutcome(status="failed")
        verdict = "unknown" if refresh.status == "connect_error" else "invalid"
        return ProbeReply(status=verdict, has_refresh_token=True, refresh=refresh, mcp_probe=failed)
    new_secrets = open_secrets(keyring, fresh)
    failed, error = await _try(url, new_secrets.get("access_token"), {**secrets, **new_secrets})
    status = "valid" if error is None else ("unknown" if isinstance(error, McpUnreachable) else "invalid")
    return ProbeReply(
        status=status, has_refresh_token=True, refresh=RefreshOutcome(status="succeeded"), mcp_probe=failed
    )
