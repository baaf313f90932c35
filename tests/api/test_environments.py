"""Environments through the official SDK in strict mode: API_CONTRACT.md §6 scenarios 7–8, merges, bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx
import pytest
from anthropic._models import validate_type
from anthropic.types.beta import BetaEnvironment, BetaEnvironmentArchivedError, BetaInvalidConfigTypeChangeError

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
EMPTY_PACKAGES = {"type": "packages", "apt": [], "cargo": [], "gem": [], "go": [], "npm": [], "pip": []}
UNRESTRICTED = {"type": "cloud", "networking": {"type": "unrestricted"}}


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response.headers["request-id"]
    return body


def since(start: datetime) -> dict[str, str]:
    """Query that scopes an environment list to rows made by this test (a server extension of the contract)."""
    return {"created_at[gte]": start.isoformat()}


def test_scenario_7_create_returns_full_cloud_config(client: anthropic.Anthropic, http: httpx.Client) -> None:
    env = client.beta.environments.create(name="e", config=UNRESTRICTED)
    assert env.id.startswith("env_") and env.type == "environment" and env.name == "e"
    assert env.config.to_dict() == {"type": "cloud", "networking": {"type": "unrestricted"}, "packages": EMPTY_PACKAGES}
    assert isinstance(env.created_at, str) and RFC3339.match(env.created_at)
    assert isinstance(env.updated_at, str) and env.archived_at is None and env.metadata == {}
    raw = http.get(f"/v1/environments/{env.id}").json()
    validate_type(type_=BetaEnvironment, value=raw)
    assert raw["config"] == env.config.to_dict()


def test_scenario_8_config_type_cannot_change(client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="e", config=UNRESTRICTED)
    with pytest.raises(BetaInvalidConfigTypeChangeError) as caught:
        client.beta.environments.update(env.id, config={"type": "self_hosted"})
    assert caught.value.status_code == 400 and caught.value.error_code == "invalid_config_type_change"
    assert client.beta.environments.retrieve(env.id).config.type == "cloud"


def test_defaults_and_self_hosted(client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="plain")
    assert env.config.to_dict() == {"type": "cloud", "networking": {"type": "unrestricted"}, "packages": EMPTY_PACKAGES}
    hosted = client.beta.environments.create(name="hosted", config={"type": "self_hosted"}, scope="account")
    assert hosted.config.to_dict() == {"type": "self_hosted"} and hosted.scope == "account"


def test_limited_networking_and_packages(client: anthropic.Anthropic) -> None:
    limited = client.beta.environments.create(name="l", config={"type": "cloud", "networking": {"type": "limited"}})
    assert limited.config.to_dict()["networking"] == {
        "type": "limited",
        "allowed_hosts": [],
        "allow_mcp_servers": False,
        "allow_package_managers": False,
    }
    with pytest.raises(anthropic.BadRequestError):
        client.beta.environments.update(limited.id, config={"type": "cloud", "packages": {"pip": ["requests"]}})
    networking = {"type": "limited", "allowed_hosts": [], "allow_package_managers": True}
    updated = client.beta.environments.update(
        limited.id, config={"type": "cloud", "networking": networking, "packages": {"pip": ["requests"]}}
    )
    config = updated.config.to_dict()
    assert config["networking"]["allow_package_managers"] is True and config["packages"]["pip"] == ["requests"]
    kept = client.beta.environments.update(limited.id, config={"type": "cloud", "packages": {"npm": ["left-pad"]}})
    assert kept.config.to_dict()["networking"] == config["networking"]
    assert kept.config.to_dict()["packages"] == {**EMPTY_PACKAGES, "pip": ["requests"], "npm": ["left-pad"]}


def test_allowed_hosts_are_stored_and_echoed(client: anthropic.Anthropic) -> None:
    hosts = ["pypi.org", "*.github.com", "192.0.2.1", "Api.Example.COM", "internal_host.corp"]
    networking = {"type": "limited", "allowed_hosts": hosts, "allow_package_managers": True}
    env = client.beta.environments.create(name="hosts", config={"type": "cloud", "networking": networking})
    assert env.config.to_dict()["networking"]["allowed_hosts"] == hosts
    updated = client.beta.environments.update(
        env.id, config={"type": "cloud", "networking": {"type": "limited", "allowed_hosts": ["example.org"]}}
    )
    assert updated.config.to_dict()["networking"]["allowed_hosts"] == ["example.org"]
    assert client.beta.environments.retrieve(env.id).config.to_dict()["networking"]["allow_package_managers"] is True


BAD_HOSTS = [
    "https://pypi.org",
    "pypi.org/simple",
    "pypi.org:443",
    "2001:db8::1",
    "[::1]",
    "*",
    "*.",
    "a.*.example.com",
    "*example.com",
    "*.192.0.2.1",
    "exa mple.com",
    "-bad.example.com",
    "bücher.de",
    "1.2.3",
    "",
    "a" * 64 + ".com",
]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_bad_allowed_hosts_are_400(client: anthropic.Anthropic, http: httpx.Client, host: str) -> None:
    networking = {"type": "limited", "allowed_hosts": ["ok.example.com", host]}
    response = http.post("/v1/environments", json={"name": "e", "config": {"type": "cloud", "networking": networking}})
    assert_envelope(response, 400, "invalid_request_error")
    assert "allowed_hosts" in response.json()["error"]["message"]
    env = client.beta.environments.create(name="e", config={"type": "cloud", "networking": {"type": "limited"}})
    update = http.post(f"/v1/environments/{env.id}", json={"config": {"type": "cloud", "networking": networking}})
    assert_envelope(update, 400, "invalid_request_error")
    assert client.beta.environments.retrieve(env.id).config.to_dict()["networking"]["allowed_hosts"] == []


def test_update_merges_description_and_metadata(client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="e", description="d", metadata={"a": "1", "b": "2", "c": "3"})
    same = client.beta.environments.update(env.id, name="renamed")
    assert same.description == "d" and same.name == "renamed" and same.updated_at > env.updated_at
    emptied = client.beta.environments.update(env.id, description="", metadata={"a": None, "b": "", "d": "4"})
    assert emptied.description == "" and emptied.metadata == {"c": "3", "d": "4"}
    cleared = client.beta.environments.update(env.id, description=None)
    assert cleared.description is None and cleared.metadata == {"c": "3", "d": "4"}
    unchanged = client.beta.environments.update(env.id, name="renamed")
    assert unchanged.updated_at == cleared.updated_at


def test_archive_list_and_delete(client: anthropic.Anthropic) -> None:
    start = datetime.now(UTC)
    kept = client.beta.environments.create(name="kept")
    archived = client.beta.environments.create(name="archived")
    result = client.beta.environments.archive(archived.id)
    assert result.archived_at is not None and RFC3339.match(result.archived_at)
    with pytest.raises(BetaEnvironmentArchivedError):
        client.beta.environments.update(archived.id, name="again")
    assert [e.id for e in client.beta.environments.list(extra_query=since(start))] == [kept.id]
    both = client.beta.environments.list(include_archived=True, limit=1, extra_query=since(start))
    assert [e.id for e in both] == [archived.id, kept.id]
    deleted = client.beta.environments.delete(archived.id)
    assert deleted.id == archived.id and deleted.type == "environment_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.retrieve(archived.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.delete(archived.id)


def test_last_page_has_null_next_page(client: anthropic.Anthropic, http: httpx.Client) -> None:
    start = datetime.now(UTC)
    for i in range(2):
        client.beta.environments.create(name=f"p{i}")
    first = http.get("/v1/environments", params={"limit": 2, **since(start)}).json()
    assert len(first["data"]) == 2 and first["next_page"] is None


_BAD_CREATES: list[Any] = [
    b"{not json",
    b"[]",
    {},
    {"name": ""},
    {"name": "n" * 257},
    {"name": 5},
    {"name": "e", "config": {"type": "moon"}},
    {"name": "e", "config": {"type": "cloud", "networking": {"type": "open"}}},
    {"name": "e", "config": {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": "a.com"}}},
    {"name": "e", "config": {"type": "cloud", "networking": {"type": "limited"}, "packages": {"pip": ["x"]}}},
    {"name": "e", "config": {"type": "cloud", "packages": {"pip": "requests"}}},
    {"name": "e", "metadata": {f"k{i}": "v" for i in range(17)}},
    {"name": "e", "scope": "galaxy"},
]


@pytest.mark.parametrize("payload", _BAD_CREATES)
def test_bad_create_is_400_and_writes_nothing(http: httpx.Client, payload: Any) -> None:
    start = datetime.now(UTC)
    content = payload if isinstance(payload, bytes) else httpx.Request("POST", "/", json=payload).content
    response = http.post("/v1/environments", content=content, headers={"content-type": "application/json"})
    assert_envelope(response, 400, "invalid_request_error")
    listed = http.get("/v1/environments", params={"include_archived": "true", **since(start)}).json()
    assert listed == {"data": [], "next_page": None}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"page": "nope!"}, {"include_archived": "perhaps"}]
)
def test_bad_list_query_is_400(http: httpx.Client, params: dict[str, Any]) -> None:
    assert_envelope(http.get("/v1/environments", params=params), 400, "invalid_request_error")


def test_unknown_environments_are_404(client: anthropic.Anthropic, http: httpx.Client) -> None:
    for path in ("/v1/environments/env_nope", "/v1/environments/garbage"):
        assert_envelope(http.get(path), 404, "not_found_error")
        assert_envelope(http.delete(path), 404, "not_found_error")
        assert_envelope(http.post(path, json={"name": "x"}), 404, "not_found_error")
        assert_envelope(http.post(f"{path}/archive"), 404, "not_found_error")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.beta.environments.retrieve("env_doesnotexist")
    assert caught.value.type == "not_found_error" and caught.value.request_id


def test_bad_update_writes_nothing(client: anthropic.Anthropic, http: httpx.Client) -> None:
    env = client.beta.environments.create(name="e", metadata={"k": "v"})
    for payload in ([], {"name": 5}, {"config": {"type": "cloud", "networking": {"type": "x"}}}, {"metadata": [1]}):
        assert_envelope(http.post(f"/v1/environments/{env.id}", json=payload), 400, "invalid_request_error")
    after = client.beta.environments.retrieve(env.id)
    assert after.updated_at == env.updated_at and after.metadata == {"k": "v"}
