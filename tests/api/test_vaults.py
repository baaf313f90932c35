"""Vaults and credentials through the official SDK in strict mode (API_CONTRACT.md §2.6, scenario 22)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import pytest
from sqlmodel import select

from dma.store.tables import Session, Vault, VaultCredential
from tests.helpers import make_agent, make_environment, make_session
from tests.stack import Stack

SECRET = "sekret-token-4e2f"


def later(hours: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def oauth_auth(url: str = "https://mcp.example.com/mcp", **extra: Any) -> dict[str, Any]:
    return {
        "type": "mcp_oauth",
        "access_token": SECRET + "-access",
        "mcp_server_url": url,
        "expires_at": later(),
        "refresh": {
            "client_id": "client-1",
            "refresh_token": SECRET + "-refresh",
            "token_endpoint": "https://auth.example.com/token",
            "token_endpoint_auth": {"type": "client_secret_post", "client_secret": SECRET + "-client"},
            "scope": "read",
        },
        **extra,
    }


def env_auth(name: str = "API_TOKEN") -> dict[str, Any]:
    return {
        "type": "environment_variable",
        "secret_name": name,
        "secret_value": SECRET + "-env",
        "networking": {"type": "limited", "allowed_hosts": ["api.example.com", "*.example.org"]},
    }


def test_scenario_22_static_bearer_never_echoes_the_token(client: anthropic.Anthropic, http: httpx.Client) -> None:
    vault = client.beta.vaults.create(display_name="v")
    assert vault.id.startswith("vlt_") and vault.type == "vault" and vault.metadata == {}
    auth = {"type": "static_bearer", "token": "s", "mcp_server_url": "https://m"}
    credential = client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    assert credential.id.startswith("vcrd_") and credential.vault_id == vault.id
    got = client.beta.vaults.credentials.retrieve(credential.id, vault_id=vault.id)
    assert got.auth.to_dict() == {"type": "static_bearer", "mcp_server_url": "https://m"}
    raw = http.get(f"/v1/vaults/{vault.id}/credentials/{credential.id}").json()
    assert "token" not in json.dumps(raw["auth"]) and '"s"' not in json.dumps(raw)
    archived = client.beta.vaults.credentials.archive(credential.id, vault_id=vault.id)
    assert archived.archived_at is not None
    assert [c.id for c in client.beta.vaults.credentials.list(vault.id)] == []
    listed = client.beta.vaults.credentials.list(vault.id, include_archived=True)
    assert [c.id for c in listed] == [credential.id]


def test_each_auth_type_round_trips_without_secrets(client: anthropic.Anthropic, http: httpx.Client) -> None:
    vault = client.beta.vaults.create(display_name="all", metadata={"team": "a"})
    oauth = client.beta.vaults.credentials.create(vault.id, auth=oauth_auth(), display_name="o")  # type: ignore[arg-type]
    env = client.beta.vaults.credentials.create(vault.id, auth=env_auth())  # type: ignore[arg-type]
    assert oauth.auth.type == "mcp_oauth" and oauth.auth.refresh is not None
    assert oauth.auth.refresh.token_endpoint_auth.type == "client_secret_post" and oauth.auth.refresh.scope == "read"
    assert oauth.auth.expires_at is not None and oauth.display_name == "o"
    assert env.auth.type == "environment_variable" and env.auth.secret_name == "API_TOKEN"
    assert env.auth.injection_location.header and env.auth.injection_location.body
    assert env.auth.networking.type == "limited"
    for path in (f"/v1/vaults/{vault.id}/credentials", f"/v1/vaults/{vault.id}/credentials/{oauth.id}"):
        assert SECRET not in http.get(path).text
    ids = [c.id for c in client.beta.vaults.credentials.list(vault.id)]
    assert ids == [env.id, oauth.id], "newest first"


def test_updates_keep_type_and_identity(client: anthropic.Anthropic, stack: Stack) -> None:
    vault = client.beta.vaults.create(display_name="u")
    cred = client.beta.vaults.credentials.create(vault.id, auth=oauth_auth())  # type: ignore[arg-type]
    before = stack.run(_row(stack, cred.id))
    updated = client.beta.vaults.credentials.update(
        cred.id,
        vault_id=vault.id,
        auth={"type": "mcp_oauth", "access_token": "new-" + SECRET, "refresh": {"scope": ""}},
        metadata={"k": "v"},
    )
    assert updated.metadata == {"k": "v"} and updated.auth.refresh is not None and updated.auth.refresh.scope is None
    after = stack.run(_row(stack, cred.id))
    assert after.version == before.version + 1 and after.sealed != before.sealed
    same = client.beta.vaults.credentials.update(cred.id, vault_id=vault.id, metadata={"k": "v"})
    assert same.updated_at == updated.updated_at, "a no-op update changes nothing"
    renamed = client.beta.vaults.update(vault.id, display_name="u2", metadata={"x": "y"})
    assert renamed.display_name == "u2" and renamed.metadata == {"x": "y"}
    assert client.beta.vaults.update(vault.id, metadata={"x": None}).metadata == {}


def test_archiving_a_vault_purges_its_secrets(client: anthropic.Anthropic, stack: Stack) -> None:
    vault = client.beta.vaults.create(display_name="gone")
    cred = client.beta.vaults.credentials.create(vault.id, auth=oauth_auth())  # type: ignore[arg-type]
    archived = client.beta.vaults.archive(vault.id)
    assert archived.archived_at is not None
    row = stack.run(_row(stack, cred.id))
    assert row.archived_at is not None and row.sealed is None and row.key_id is None and row.active_key is None
    assert vault.id not in [v.id for v in client.beta.vaults.list()]
    assert vault.id in [v.id for v in client.beta.vaults.list(include_archived=True)]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.vaults.credentials.create(vault.id, auth=oauth_auth())  # type: ignore[arg-type]
    environment = make_environment(client)
    with pytest.raises(anthropic.BadRequestError):
        make_session(client, environment_id=environment.id, vault_ids=[vault.id])


def test_archiving_a_credential_frees_its_server_url(client: anthropic.Anthropic) -> None:
    vault = client.beta.vaults.create(display_name="free")
    first = client.beta.vaults.credentials.create(vault.id, auth=oauth_auth())  # type: ignore[arg-type]
    client.beta.vaults.credentials.archive(first.id, vault_id=vault.id)
    second = client.beta.vaults.credentials.create(vault.id, auth=oauth_auth())  # type: ignore[arg-type]
    assert second.id != first.id


def test_delete_is_hard(client: anthropic.Anthropic, stack: Stack) -> None:
    vault = client.beta.vaults.create(display_name="del")
    cred = client.beta.vaults.credentials.create(vault.id, auth=env_auth())  # type: ignore[arg-type]
    deleted = client.beta.vaults.credentials.delete(cred.id, vault_id=vault.id)
    assert deleted.type == "vault_credential_deleted" and deleted.id == cred.id
    with pytest.raises(anthropic.NotFoundError):
        client.beta.vaults.credentials.retrieve(cred.id, vault_id=vault.id)
    other = client.beta.vaults.credentials.create(vault.id, auth=env_auth("OTHER"))  # type: ignore[arg-type]
    assert client.beta.vaults.delete(vault.id).type == "vault_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.vaults.retrieve(vault.id)
    assert stack.run(_row_or_none(stack, other.id)) is None


def test_sessions_take_vault_ids_at_creation_only(client: anthropic.Anthropic, stack: Stack) -> None:
    vault = client.beta.vaults.create(display_name="s")
    session = make_session(client, vault_ids=[vault.id])
    assert session.vault_ids == [vault.id]
    assert client.beta.sessions.retrieve(session.id).vault_ids == [vault.id]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(session.id, vault_ids=[vault.id])
    agent, environment = make_agent(client).id, make_environment(client).id
    before = stack.run(_sessions(stack))
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent=agent, environment_id=environment, vault_ids=["vlt_doesnotexist"])
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=agent, environment_id=environment, vault_ids=[vault.id, vault.id])
    assert stack.run(_sessions(stack)) == before, "nothing was written"
    assert client.beta.sessions.retrieve(session.id).vault_ids == [vault.id], "the refused update changed nothing"


async def _sessions(stack: Stack) -> int:
    assert stack.db is not None
    async with stack.db.read() as db:
        return len(list((await db.exec(select(Session))).all()))


def test_list_pages_end(client: anthropic.Anthropic) -> None:
    vault = client.beta.vaults.create(display_name="pages")
    made = [
        client.beta.vaults.credentials.create(vault.id, auth=env_auth(f"N{i}")).id  # type: ignore[arg-type]
        for i in range(3)
    ]
    page = client.beta.vaults.credentials.list(vault.id, limit=2)
    assert len(page.data) == 2 and page.next_page
    assert [c.id for c in page] == list(reversed(made))
    assert len(list(client.beta.vaults.list(limit=1))) >= 1


BAD_CREDENTIALS: list[tuple[str, dict[str, Any]]] = [
    ("malformed url", {"type": "static_bearer", "token": "t", "mcp_server_url": "not a url"}),
    ("ftp url", {"type": "static_bearer", "token": "t", "mcp_server_url": "ftp://m.example.com"}),
    ("userinfo url", {"type": "static_bearer", "token": "t", "mcp_server_url": "https://u:p@m.example.com"}),
    ("bad port", {"type": "static_bearer", "token": "t", "mcp_server_url": "https://m.example.com:99999"}),
    ("empty token", {"type": "static_bearer", "token": "", "mcp_server_url": "https://m"}),
    ("token with newline", {"type": "static_bearer", "token": "a\nb", "mcp_server_url": "https://m"}),
    ("expiry in the past", oauth_auth(expires_at="2020-01-01T00:00:00Z")),
    ("expiry without offset", oauth_auth(expires_at="2999-01-01T00:00:00")),
    ("expiry garbage", oauth_auth(expires_at="soon")),
    ("bad token endpoint", oauth_auth(refresh={**oauth_auth()["refresh"], "token_endpoint": "nope"})),
    ("no injection", {**env_auth(), "injection_location": {"header": False, "body": False}}),
    ("bad secret name", {**env_auth(), "secret_name": "1-BAD"}),
    ("host with port", {**env_auth(), "networking": {"type": "limited", "allowed_hosts": ["a.com:443"]}}),
    ("too many hosts", {**env_auth(), "networking": {"type": "limited", "allowed_hosts": ["a.com"] * 17}}),
    ("unknown type", {"type": "password", "password": "x"}),
]


@pytest.mark.parametrize(("why", "auth"), BAD_CREDENTIALS, ids=[why for why, _ in BAD_CREDENTIALS])
def test_bad_credentials_are_refused_and_nothing_is_written(
    http: httpx.Client, stack: Stack, why: str, auth: dict[str, Any]
) -> None:
    vault = http.post("/v1/vaults", json={"display_name": "bad"}).json()
    response = http.post(f"/v1/vaults/{vault['id']}/credentials", json={"auth": auth})
    assert response.status_code == 400, (why, response.text)
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "invalid_request_error"
    assert SECRET not in response.text and '"t"' not in response.text
    assert stack.run(_count(stack, vault["id"])) == 0


def test_conflicts_and_type_changes(http: httpx.Client, stack: Stack) -> None:
    vault = http.post("/v1/vaults", json={"display_name": "c"}).json()["id"]
    auth = {"type": "static_bearer", "token": "t1", "mcp_server_url": "https://m.example.com/mcp"}
    cred = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": auth}).json()
    # The same server URL written differently is the same server.
    same = {**auth, "mcp_server_url": "HTTPS://M.example.com:443/mcp/"}
    duplicate = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": same})
    assert duplicate.status_code == 409 and duplicate.headers["x-should-retry"] == "false"
    assert stack.run(_count(stack, vault)) == 1
    url = f"/v1/vaults/{vault}/credentials/{cred['id']}"
    refusals = [
        {"auth": {"type": "mcp_oauth", "access_token": "x"}},
        {"auth": {"type": "static_bearer", "mcp_server_url": "https://other.example.com"}},
        {"auth": {"type": "static_bearer", "token": "bad token"}},
    ]
    before = stack.run(_row(stack, cred["id"]))
    for body in refusals:
        response = http.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
    after = stack.run(_row(stack, cred["id"]))
    assert (after.version, after.sealed, after.auth) == (before.version, before.sealed, before.auth)
    assert http.post(f"/v1/vaults/{vault}/credentials/vcrd_nope", json={}).status_code == 404
    other = http.post("/v1/vaults", json={"display_name": "o"}).json()["id"]
    assert http.get(f"/v1/vaults/{other}/credentials/{cred['id']}").status_code == 404, "wrong parent"
    http.post(f"/v1/vaults/{vault}/credentials/{cred['id']}/archive")
    assert http.post(url, json={"display_name": "x"}).status_code == 400, "archived credentials are read-only"


def test_oauth_update_rules(http: httpx.Client) -> None:
    vault = http.post("/v1/vaults", json={"display_name": "r"}).json()["id"]
    bare = {"type": "mcp_oauth", "access_token": "a", "mcp_server_url": "https://bare.example.com"}
    cred = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": bare}).json()
    url = f"/v1/vaults/{vault}/credentials/{cred['id']}"
    no_refresh = http.post(url, json={"auth": {"type": "mcp_oauth", "refresh": {"refresh_token": "r"}}})
    assert no_refresh.status_code == 400
    past = http.post(url, json={"auth": {"type": "mcp_oauth", "expires_at": "2001-01-01T00:00:00Z"}})
    assert past.status_code == 400
    full = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": oauth_auth("https://full.example.com")}).json()
    furl = f"/v1/vaults/{vault}/credentials/{full['id']}"
    swap = {
        "type": "mcp_oauth",
        "refresh": {"token_endpoint_auth": {"type": "client_secret_basic", "client_secret": "z"}},
    }
    kept = http.post(furl, json={"auth": swap}).json()
    assert kept["auth"]["refresh"]["token_endpoint_auth"] == {"type": "client_secret_post"}, "keeps its type"
    moved = {"type": "mcp_oauth", "refresh": {"token_endpoint": "https://elsewhere.example.com/token"}}
    assert http.post(furl, json={"auth": moved}).status_code == 400
    cleared = http.post(furl, json={"auth": {"type": "mcp_oauth", "expires_at": None}}).json()
    assert "expires_at" not in cleared["auth"] or cleared["auth"]["expires_at"] is None


async def _row(stack: Stack, credential_id: str) -> VaultCredential:
    row = await _row_or_none(stack, credential_id)
    assert row is not None
    return row


async def _row_or_none(stack: Stack, credential_id: str) -> VaultCredential | None:
    assert stack.db is not None
    async with stack.db.read() as db:
        return await db.get(VaultCredential, credential_id)


async def _count(stack: Stack, vault_id: str) -> int:
    assert stack.db is not None
    async with stack.db.read() as db:
        assert await db.get(Vault, vault_id) is not None
        rows = await db.exec(select(VaultCredential).where(VaultCredential.vault_id == vault_id))
        return len(list(rows.all()))
