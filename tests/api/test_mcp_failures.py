"""MCP failures and OAuth: a server that goes down and comes back, refused credentials, token refresh, the probe."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest

from activities.mcp.credentials import CredentialResolver
from dma.crypto import Keyring
from dma.store.engine import Database
from dma.store.tables import VaultCredential
from tests.api.mcp_helpers import (
    SERVER,
    bearer_vault,
    mcp_agent,
    mcp_call,
    mcp_session,
    of_type,
    send,
    turns_ended,
    wait_until,
)
from tests.fakes.mcp_server import FakeMcpServer, OAuthClient
from tests.helpers import make_session
from tests.stack import SECRET_KEY, Stack


def mcp_errors(events: list[Any]) -> list[Any]:
    return [e.error for e in of_type(events, "session.error") if e.error.type.startswith("mcp_")]


def test_server_down_for_a_while_then_back(client: anthropic.Anthropic) -> None:
    with FakeMcpServer() as server:
        session = mcp_session(client, server)
        send(client, session.id, "list the tools first")
        wait_until(client, session.id, turns_ended(1))
        server.stop()
        send(client, session.id, mcp_call("echo", {"text": "later"}))
        wait_until(client, session.id, lambda evs: bool(mcp_errors(evs)))
        server.start()
        events = wait_until(client, session.id, turns_ended(2))
    error = mcp_errors(events)[0]
    assert error.type == "mcp_connection_failed_error" and error.mcp_server_name == SERVER
    assert error.retry_status.type == "retrying"
    result = of_type(events, "agent.mcp_tool_result")[0]
    assert result.is_error is False and result.content[0].text == "echo: later"
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn"


def test_server_down_too_long_ends_the_turn_and_the_session_goes_on(client: anthropic.Anthropic) -> None:
    with FakeMcpServer() as server:
        session = mcp_session(client, server)
        send(client, session.id, "list the tools first")
        wait_until(client, session.id, turns_ended(1))
        server.stop()
        send(client, session.id, mcp_call("echo", {"text": "never"}))
        events = wait_until(client, session.id, turns_ended(2), timeout=60)
        errors = mcp_errors(events)
        assert [e.retry_status.type for e in errors] == ["retrying", "retrying", "exhausted"]
        assert all(e.type == "mcp_connection_failed_error" and e.mcp_server_name == SERVER for e in errors)
        assert of_type(events, "session.status_idle")[-1].stop_reason.type == "retries_exhausted"
        assert of_type(events, "agent.mcp_tool_result")[0].is_error is True
        server.start()
        # The scripted model answers a message that follows a tool result with a summary: one plain turn first.
        send(client, session.id, "are you there?")
        wait_until(client, session.id, turns_ended(3))
        send(client, session.id, mcp_call("echo", {"text": "back"}))
        events = wait_until(client, session.id, turns_ended(4))
    assert of_type(events, "agent.mcp_tool_result")[-1].content[0].text == "echo: back"
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_a_server_down_at_listing_time_costs_its_tools_for_that_step(client: anthropic.Anthropic) -> None:
    with FakeMcpServer() as server:
        session = mcp_session(client, server)
        server.stop()
        send(client, session.id, "hi")
        events = wait_until(client, session.id, turns_ended(1))
        error = mcp_errors(events)[0]
        assert error.type == "mcp_connection_failed_error" and error.retry_status.type == "retrying"
        assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn"
        server.start()
        send(client, session.id, mcp_call("echo", {"text": "listed now"}))
        events = wait_until(client, session.id, turns_ended(2))
    assert of_type(events, "agent.mcp_tool_result")[0].content[0].text == "echo: listed now"


def test_a_refused_static_token_is_an_authentication_error(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer
) -> None:
    vault, token = bearer_vault(client, mcp_server)
    session = make_session(client, agent=mcp_agent(client, mcp_server).id, vault_ids=[vault.id])
    send(client, session.id, "list the tools first")
    wait_until(client, session.id, turns_ended(1))
    mcp_server.revoke(token)
    send(client, session.id, mcp_call("echo", {"text": "refused"}))
    events = wait_until(client, session.id, turns_ended(2))
    error = mcp_errors(events)[-1]
    assert (error.type, error.retry_status.type) == ("mcp_authentication_failed_error", "exhausted")
    assert error.mcp_server_name == SERVER and token not in error.message
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "retries_exhausted"
    send(client, session.id, "still there?")
    events = wait_until(client, session.id, turns_ended(3))
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn", "the session goes on"


def test_no_matching_credential_means_no_tools_and_an_authentication_error(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer
) -> None:
    session = make_session(client, agent=mcp_agent(client, mcp_server).id)
    send(client, session.id, "hi")
    events = wait_until(client, session.id, turns_ended(1))
    error = mcp_errors(events)[0]
    assert error.type == "mcp_authentication_failed_error" and error.retry_status.type == "retrying"


METHODS = ["none", "client_secret_basic", "client_secret_post"]


def oauth_credential(
    client: anthropic.Anthropic, server: FakeMcpServer, method: str, *, access: str, expires_in: timedelta
) -> tuple[Any, Any, OAuthClient]:
    registered = OAuthClient(f"client-{method}", "rt-" + secrets.token_hex(6), None, method)
    endpoint_auth: dict[str, Any] = {"type": method}
    if method != "none":
        registered.client_secret = "cs-" + secrets.token_hex(6)
        endpoint_auth["client_secret"] = registered.client_secret
    server.add_client(registered)
    vault = client.beta.vaults.create(display_name=f"oauth-{method}")
    auth = {
        "type": "mcp_oauth",
        "access_token": access,
        "mcp_server_url": server.mcp_url,
        "expires_at": (datetime.now(UTC) + expires_in).isoformat(),
        "refresh": {
            "client_id": registered.client_id,
            "refresh_token": registered.refresh_token,
            "token_endpoint": server.token_url,
            "token_endpoint_auth": endpoint_auth,
        },
    }
    credential = client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    return vault, credential, registered


@pytest.mark.parametrize("method", METHODS)
def test_oauth_refresh_on_401(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer, stack: Stack, http: httpx.Client, method: str
) -> None:
    stale = "at-stale-" + secrets.token_hex(6)
    vault, credential, _ = oauth_credential(client, mcp_server, method, access=stale, expires_in=timedelta(hours=2))
    before = stack.run(_row(stack, credential.id))
    refreshes = mcp_server.state.refreshes
    session = make_session(client, agent=mcp_agent(client, mcp_server).id, vault_ids=[vault.id])
    send(client, session.id, mcp_call("echo", {"text": "after refresh"}))
    events = wait_until(client, session.id, turns_ended(1))
    assert of_type(events, "agent.mcp_tool_result")[0].content[0].text == "echo: after refresh"
    assert mcp_server.state.refreshes == refreshes + 1, "refreshed once (at listing), then the new token served"
    after = stack.run(_row(stack, credential.id))
    assert after.version == before.version + 1 and after.refresh_lease is None
    shown = http.get(f"/v1/vaults/{vault.id}/credentials/{credential.id}").text
    assert not any(issued in shown for issued in mcp_server.state.issued) and stale not in shown
    retrieved = client.beta.vaults.credentials.retrieve(credential.id, vault_id=vault.id)
    assert retrieved.auth.type == "mcp_oauth" and retrieved.auth.expires_at is not None
    assert retrieved.auth.expires_at > datetime.now(UTC) + timedelta(minutes=50), "the new expiry is stored"


def test_oauth_refresh_before_expiry(client: anthropic.Anthropic, mcp_server: FakeMcpServer) -> None:
    current = "at-current-" + secrets.token_hex(6)
    mcp_server.state.tokens.add(current)
    vault, _, _ = oauth_credential(client, mcp_server, "none", access=current, expires_in=timedelta(seconds=20))
    seen = len(mcp_server.state.authorizations)
    session = make_session(client, agent=mcp_agent(client, mcp_server).id, vault_ids=[vault.id])
    send(client, session.id, mcp_call("echo", {"text": "fresh"}))
    wait_until(client, session.id, turns_ended(1))
    used = mcp_server.state.authorizations[seen:]
    assert used and current not in used, "a token about to expire is refreshed before it is sent"


def test_two_workers_refreshing_at_once_seal_the_new_tokens_once(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer, stack: Stack
) -> None:
    stale = "at-stale-" + secrets.token_hex(6)
    _, credential, _ = oauth_credential(
        client, mcp_server, "client_secret_post", access=stale, expires_in=timedelta(hours=1)
    )
    before = stack.run(_row(stack, credential.id))
    refreshes = mcp_server.state.refreshes
    mcp_server.state.refresh_delay = 0.5
    try:
        first, second = stack.run(_refresh_twice(stack.database_url, credential.id, before.version))
    finally:
        mcp_server.state.refresh_delay = 0.0
    assert mcp_server.state.refreshes == refreshes + 1, "the token endpoint saw one refresh"
    after = stack.run(_row(stack, credential.id))
    assert after.version == before.version + 1, "the new tokens were sealed back exactly once"
    assert first.sealed == second.sealed == after.sealed


async def _refresh_twice(url: str, credential_id: str, version: int) -> list[VaultCredential]:
    """Two workers (each with its own connections) refresh the same credential at the same moment."""
    keyring = Keyring.from_settings(SECRET_KEY)
    databases = [Database.connect(url), Database.connect(url)]
    try:
        resolvers = [CredentialResolver(db, keyring) for db in databases]
        return list(await asyncio.gather(*(r.refresh(credential_id, version) for r in resolvers)))
    finally:
        for db in databases:
            await db.dispose()


def test_probe_verdicts(client: anthropic.Anthropic, mcp_server: FakeMcpServer) -> None:
    good = "at-good-" + secrets.token_hex(6)
    mcp_server.state.tokens.add(good)
    vault, valid, _ = oauth_credential(client, mcp_server, "none", access=good, expires_in=timedelta(hours=1))
    verdict = client.beta.vaults.credentials.mcp_oauth_validate(valid.id, vault_id=vault.id)
    assert (verdict.status, verdict.has_refresh_token, verdict.refresh, verdict.mcp_probe) == (
        "valid",
        True,
        None,
        None,
    )
    assert verdict.credential_id == valid.id and verdict.vault_id == vault.id

    vault, stale, _ = oauth_credential(
        client, mcp_server, "client_secret_basic", access="at-x", expires_in=timedelta(hours=1)
    )
    verdict = client.beta.vaults.credentials.mcp_oauth_validate(stale.id, vault_id=vault.id)
    assert verdict.status == "valid" and verdict.refresh is not None and verdict.refresh.status == "succeeded"

    vault, broken, registered = oauth_credential(
        client, mcp_server, "none", access="at-y", expires_in=timedelta(hours=1)
    )
    registered.refresh_token = "rt-rotated-elsewhere"
    verdict = client.beta.vaults.credentials.mcp_oauth_validate(broken.id, vault_id=vault.id)
    assert verdict.status == "invalid" and verdict.refresh is not None and verdict.refresh.status == "failed"
    assert verdict.refresh.http_response is not None and verdict.refresh.http_response.status_code == 400
    assert verdict.mcp_probe is not None and verdict.mcp_probe.http_response is not None
    assert verdict.mcp_probe.http_response.status_code == 401

    bare_vault = client.beta.vaults.create(display_name="bare")
    bare_auth = {"type": "mcp_oauth", "access_token": "at-z", "mcp_server_url": mcp_server.mcp_url}
    bare = client.beta.vaults.credentials.create(bare_vault.id, auth=bare_auth)  # type: ignore[arg-type]
    verdict = client.beta.vaults.credentials.mcp_oauth_validate(bare.id, vault_id=bare_vault.id)
    assert verdict.status == "invalid" and verdict.has_refresh_token is False
    assert verdict.refresh is not None and verdict.refresh.status == "no_refresh_token"

    static_vault, _ = bearer_vault(client, mcp_server)
    static = next(iter(client.beta.vaults.credentials.list(static_vault.id)))
    with pytest.raises(anthropic.BadRequestError):
        client.beta.vaults.credentials.mcp_oauth_validate(static.id, vault_id=static_vault.id)


async def _row(stack: Stack, credential_id: str) -> VaultCredential:
    assert stack.db is not None
    async with stack.db.read() as db:
        row = await db.get(VaultCredential, credential_id)
    assert row is not None
    return row
