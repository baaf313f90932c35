"""Agents through the official SDK in strict mode: API_CONTRACT.md §6 scenarios 1–6, update semantics, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx
import pytest
from anthropic._models import validate_type
from anthropic.types.beta import BetaManagedAgentsAgent

TOOLSET = {"type": "agent_toolset_20260401"}


class Recorder:
    """An SDK client whose every request is recorded (method, path, query, headers)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.requests: list[httpx.Request] = []
        self.http = anthropic.DefaultHttpxClient(event_hooks={"request": [self.requests.append]})
        self.sdk = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, http_client=self.http, _strict_response_validation=True
        )

    def paths(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


@pytest.fixture
def recorder(base_url: str, api_key: str) -> Iterator[Recorder]:
    recorder = Recorder(base_url, api_key)
    yield recorder
    recorder.sdk.close()


def make(client: anthropic.Anthropic, **params: Any) -> BetaManagedAgentsAgent:
    return client.beta.agents.create(**{"model": "claude-sonnet-4-6", "name": "a", **params})


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response.headers["request-id"]
    return body


def test_scenario_1_create_fills_the_response_form(recorder: Recorder, http: httpx.Client, api_key: str) -> None:
    agent = recorder.sdk.beta.agents.create(model="claude-sonnet-4-6", name="a", tools=[TOOLSET])
    assert agent.id.startswith("agent_") and agent.type == "agent" and agent.version == 1
    assert agent.model.id == "claude-sonnet-4-6"
    toolset = agent.tools[0]
    assert toolset.type == "agent_toolset_20260401"
    assert toolset.default_config.enabled is True
    assert toolset.default_config.permission_policy.type == "always_allow"
    assert toolset.configs == []
    assert agent.mcp_servers == [] and agent.skills == [] and agent.metadata == {}
    assert agent.execution_identity.type == "service_account"
    assert agent.archived_at is None and agent.created_at == agent.updated_at
    (request,) = recorder.paths("POST", "/v1/agents")
    assert request.headers["authorization"] == f"Bearer {api_key}"
    assert "managed-agents-2026-04-01" in request.headers["anthropic-beta"]
    raw = http.get(f"/v1/agents/{agent.id}").json()
    validate_type(type_=BetaManagedAgentsAgent, value=raw)
    assert raw["created_at"].endswith("Z")


def test_scenario_2_stale_version_conflicts_once(recorder: Recorder) -> None:
    agent = make(recorder.sdk)
    assert recorder.sdk.beta.agents.update(agent.id, version=1, system="x").version == 2
    before = len(recorder.paths("POST", f"/v1/agents/{agent.id}"))
    with pytest.raises(anthropic.ConflictError) as caught:
        recorder.sdk.beta.agents.update(agent.id, version=1, name="b")
    assert len(recorder.paths("POST", f"/v1/agents/{agent.id}")) == before + 1
    assert caught.value.type == "conflict_error" and caught.value.request_id
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert recorder.sdk.beta.agents.retrieve(agent.id).name == "a"


def test_conflict_even_when_values_are_equal(client: anthropic.Anthropic) -> None:
    agent = make(client, system="x")
    client.beta.agents.update(agent.id, version=1, name="b")
    with pytest.raises(anthropic.ConflictError):
        client.beta.agents.update(agent.id, version=1, name="b")


def test_scenario_3_update_that_changes_nothing_keeps_the_version(client: anthropic.Anthropic) -> None:
    agent = make(client, system="x", metadata={"k": "v"}, tools=[TOOLSET])
    same = client.beta.agents.update(
        agent.id, system="x", name="a", model="claude-sonnet-4-6", metadata={"k": "v"}, tools=[TOOLSET]
    )
    assert same.version == 1 and same.updated_at == agent.updated_at
    assert client.beta.agents.update(agent.id, version=1).version == 1
    assert [v.version for v in client.beta.agents.versions.list(agent.id)] == [1]


def test_scenario_4_list_pages_until_next_page_is_null(recorder: Recorder) -> None:
    start = datetime.now(UTC)
    created = [make(recorder.sdk, name=f"page-{i}").id for i in range(3)]
    listed = [a.id for a in recorder.sdk.beta.agents.list(limit=2, created_at_gte=start)]
    assert listed == created[::-1]
    pages = recorder.paths("GET", "/v1/agents")
    assert len(pages) == 2
    assert "page" not in pages[0].url.params and pages[1].url.params["page"]
    assert pages[1].url.params["created_at[gte]"] == pages[0].url.params["created_at[gte]"]


def test_list_never_promises_an_empty_page(client: anthropic.Anthropic, http: httpx.Client) -> None:
    start = datetime.now(UTC).isoformat()
    for i in range(4):
        make(client, name=f"even-{i}")
    first = http.get("/v1/agents", params={"limit": 2, "created_at[gte]": start}).json()
    second = http.get("/v1/agents", params={"limit": 2, "created_at[gte]": start, "page": first["next_page"]}).json()
    assert len(first["data"]) == 2 and first["next_page"]
    assert len(second["data"]) == 2 and second["next_page"] is None
    assert {a["id"] for a in first["data"]}.isdisjoint(a["id"] for a in second["data"])
    assert http.get("/v1/agents", params={"created_at[gte]": "2999-01-01T00:00:00Z"}).json() == {
        "data": [],
        "next_page": None,
    }


def test_scenario_5_versions_and_historical_retrieve(client: anthropic.Anthropic) -> None:
    agent = make(client, system="one")
    updated = client.beta.agents.update(agent.id, system="two")
    assert updated.version == 2 and updated.created_at == agent.created_at
    old = client.beta.agents.retrieve(agent.id, version=1)
    assert old.version == 1 and old.system == "one"
    assert client.beta.agents.retrieve(agent.id).system == "two"
    versions = list(client.beta.agents.versions.list(agent.id))
    assert [(v.version, v.system) for v in versions] == [(2, "two"), (1, "one")]
    assert [v.version for v in client.beta.agents.versions.list(agent.id, limit=1)] == [2, 1]
    with pytest.raises(anthropic.NotFoundError):
        client.beta.agents.retrieve(agent.id, version=3)


def test_scenario_6_archive(client: anthropic.Anthropic) -> None:
    start = datetime.now(UTC)
    kept, archived = make(client, name="kept"), make(client, name="archived")
    result = client.beta.agents.archive(archived.id)
    assert result.archived_at is not None and result.version == 1
    assert client.beta.agents.archive(archived.id).archived_at == result.archived_at
    assert [a.id for a in client.beta.agents.list(created_at_gte=start)] == [kept.id]
    everything = [a.id for a in client.beta.agents.list(created_at_gte=start, include_archived=True)]
    assert everything == [archived.id, kept.id]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.agents.update(archived.id, name="again")
    assert client.beta.agents.retrieve(archived.id).archived_at == result.archived_at


def test_tools_skills_and_identity_come_back_resolved(client: anthropic.Anthropic) -> None:
    agent = make(
        client,
        tools=[
            {
                "type": "agent_toolset_20260401",
                "default_config": {"permission_policy": {"type": "always_ask"}},
                "configs": [
                    {"name": "bash", "enabled": False},
                    {"name": "web_fetch", "allowed_domains": ["example.com"], "url_sources": {"user_input": "none"}},
                ],
            },
            {"type": "custom", "name": "get_weather", "description": "d", "input_schema": {"type": "object", "x": 1}},
        ],
        mcp_servers=[],
        skills=[],
        execution_identity={"type": "aws_role", "role_arn": "arn:aws:iam::1:role/r"},
        model={"id": "claude-opus-4-6", "effort": "high", "speed": "standard"},
    )
    toolset, custom = agent.to_dict()["tools"]
    bash, fetch = toolset["configs"]
    assert bash == {"type": "bash", "name": "bash", "enabled": False, "permission_policy": {"type": "always_ask"}}
    assert fetch["enabled"] is True and fetch["permission_policy"] == {"type": "always_ask"}
    assert fetch["url_sources"] == {"user_input": {"type": "none"}}
    assert custom["input_schema"] == {"type": "object", "x": 1}
    assert agent.skills == [] and agent.mcp_servers == [] and agent.multiagent is None
    assert agent.execution_identity.to_dict() == {"type": "aws_role", "role_arn": "arn:aws:iam::1:role/r"}
    assert agent.model.to_dict() == {"id": "claude-opus-4-6", "effort": {"type": "high"}, "speed": "standard"}


def test_update_semantics_per_field(client: anthropic.Anthropic) -> None:
    agent = make(
        client,
        description="d",
        system="s",
        tools=[TOOLSET],
        metadata={"keep": "1", "drop": "2"},
        model={"id": "claude-sonnet-4-6", "effort": {"type": "high"}, "inference_geo": "us"},
    )
    updated = client.beta.agents.update(
        agent.id,
        description=None,
        system="",
        tools=[],
        metadata={"drop": None, "new": "3"},
        model="claude-sonnet-4-6",
        execution_identity=None,
    )
    assert updated.version == 2 and updated.description is None and updated.system is None
    assert updated.tools == [] and updated.metadata == {"keep": "1", "new": "3"}
    assert updated.model.to_dict() == {"id": "claude-sonnet-4-6", "effort": {"type": "high"}}
    assert updated.execution_identity.type == "service_account" and updated.name == "a"
    switched = client.beta.agents.update(agent.id, model="claude-opus-4-6")
    assert switched.model.effort is not None and switched.model.effort.type == "high"


@pytest.mark.parametrize("field", ["name", "model"])
def test_name_and_model_cannot_be_cleared(client: anthropic.Anthropic, http: httpx.Client, field: str) -> None:
    agent = make(client)
    assert_envelope(http.post(f"/v1/agents/{agent.id}", json={field: None}), 400, "invalid_request_error")
    assert client.beta.agents.retrieve(agent.id).version == 1


def test_mcp_servers_and_toolsets_must_match(http: httpx.Client) -> None:
    server = {"type": "url", "name": "docs", "url": "https://mcp.example.com"}
    body = {"model": "m", "name": "a"}
    assert_envelope(http.post("/v1/agents", json={**body, "mcp_servers": [server]}), 400, "invalid_request_error")
    orphan = [{"type": "mcp_toolset", "mcp_server_name": "docs"}]
    assert_envelope(http.post("/v1/agents", json={**body, "tools": orphan}), 400, "invalid_request_error")
    assert http.post("/v1/agents", json={**body, "tools": orphan, "mcp_servers": [server]}).status_code == 200


BASE = {"model": "m", "name": "a"}


def toolset_with(*configs: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, "tools": [{**TOOLSET, "configs": list(configs)}]}


BAD_TOOL = {"type": "custom", "name": "bad name", "description": "d", "input_schema": {"type": "object"}}
_BAD_CREATES: list[Any] = [
    b"{not json",
    b"[]",
    b'"agent"',
    {"name": "a"},
    {"model": "m"},
    {"model": "m", "name": 123},
    {"model": 5, "name": "a"},
    {"model": "m", "name": ""},
    {"model": "m", "name": "n" * 257},
    {**BASE, "description": "d" * 2049},
    {**BASE, "system": "s" * 100_001},
    {**BASE, "tools": "all"},
    {**BASE, "tools": [{"type": "unknown_tool"}]},
    {**BASE, "tools": [TOOLSET] * 257},
    {**BASE, "tools": [TOOLSET, TOOLSET]},
    {**BASE, "tools": [BAD_TOOL]},
    toolset_with({"name": "rm_rf"}),
    toolset_with({"name": "web_fetch", "allowed_domains": []}),
    toolset_with({"name": "web_fetch", "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}),
    toolset_with({"name": "bash", "permission_policy": {"type": "sometimes"}}),
    toolset_with({"name": "bash"}, {"name": "bash"}),
    {**BASE, "skills": [{"type": "anthropic", "skill_id": "xlsx"}]},
    {**BASE, "mcp_servers": [{"type": "url", "name": "x", "url": "https://x"}] * 21},
    {**BASE, "metadata": {"k": 1}},
    {**BASE, "execution_identity": {"type": "root"}},
    {"model": {"id": "m", "effort": "extreme"}, "name": "a"},
]


@pytest.mark.parametrize("payload", _BAD_CREATES)
def test_bad_create_is_400_and_writes_nothing(client: anthropic.Anthropic, http: httpx.Client, payload: Any) -> None:
    start = datetime.now(UTC)
    content = payload if isinstance(payload, bytes) else httpx.Request("POST", "/", json=payload).content
    response = http.post("/v1/agents", content=content, headers={"content-type": "application/json"})
    assert_envelope(response, 400, "invalid_request_error")
    assert list(client.beta.agents.list(created_at_gte=start, include_archived=True)) == []


def test_metadata_limits_carry_invalid_metadata(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        make(client, metadata={f"k{i}": "v" for i in range(17)})
    assert caught.value.error_code == "invalid_metadata"
    agent = make(client, metadata={f"k{i}": "v" for i in range(16)})
    with pytest.raises(anthropic.BadRequestError):
        client.beta.agents.update(agent.id, metadata={"one-too-many": "v"})
    for bad in ({"k" * 65: "v"}, {"k": "v" * 513}):
        with pytest.raises(anthropic.BadRequestError):
            make(client, metadata=bad)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/agents", {"limit": 0}),
        ("/v1/agents", {"limit": 101}),
        ("/v1/agents", {"limit": "abc"}),
        ("/v1/agents", {"page": "garbage!"}),
        ("/v1/agents", {"page": "page_eyJ4IjoxfQ"}),
        ("/v1/agents", {"include_archived": "maybe"}),
        ("/v1/agents", {"created_at[gte]": "yesterday"}),
        ("{agent}", {"version": 0}),
        ("{agent}", {"version": "abc"}),
        ("{agent}/versions", {"limit": 0}),
        ("{agent}/versions", {"page": "page_eyJjcmVhdGVkX2F0IjoxfQ"}),
    ],
)
def test_bad_query_values_are_400(client: anthropic.Anthropic, http: httpx.Client, path: str, params: Any) -> None:
    url = path.replace("{agent}", f"/v1/agents/{make(client).id}")
    assert_envelope(http.get(url, params=params), 400, "invalid_request_error")


def test_unknown_agents_are_404(client: anthropic.Anthropic, http: httpx.Client) -> None:
    for path in ("/v1/agents/agent_nope", "/v1/agents/not-an-id", "/v1/agents/agent_nope/versions"):
        assert_envelope(http.get(path), 404, "not_found_error")
    assert_envelope(http.post("/v1/agents/agent_nope", json={"name": "x"}), 404, "not_found_error")
    assert_envelope(http.post("/v1/agents/agent_nope/archive"), 404, "not_found_error")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.beta.agents.retrieve("agent_doesnotexist")
    assert caught.value.type == "not_found_error" and caught.value.request_id


def test_bad_update_writes_nothing(client: anthropic.Anthropic, http: httpx.Client) -> None:
    agent = make(client, system="s")
    for payload in ([], {"version": 0}, {"version": "1"}, {"tools": [{"type": "custom"}]}, {"system": 5}):
        assert_envelope(http.post(f"/v1/agents/{agent.id}", json=payload), 400, "invalid_request_error")
    malformed = http.post(f"/v1/agents/{agent.id}", content=b"{", headers={"content-type": "application/json"})
    assert_envelope(malformed, 400, "invalid_request_error")
    assert [v.version for v in client.beta.agents.versions.list(agent.id)] == [1]


def test_concurrent_updates_each_get_a_version(client: anthropic.Anthropic) -> None:
    agent = make(client)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: client.beta.agents.update(agent.id, system=f"s{i}").version, range(8)))
    assert sorted(results) == list(range(2, 10))
    assert [v.version for v in client.beta.agents.versions.list(agent.id, limit=100)] == list(range(9, 0, -1))
