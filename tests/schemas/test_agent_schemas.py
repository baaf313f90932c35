"""Agent schema normalizers, the session snapshot and ``agent_with_overrides``, checked against the SDK models."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic._models import validate_type
from anthropic.types.beta import BetaManagedAgentsAgent, BetaManagedAgentsSessionAgent
from pydantic import ValidationError

from dma.schemas.agent_multiagent import RosterAgent, pin_multiagent, roster_refs
from dma.schemas.agents import AgentCreate, AgentUpdate, apply_overrides, session_agent_snapshot
from dma.schemas.common import SchemaError, merge_metadata
from dma.schemas.environments import EnvironmentCreate, normalize_config

TOOLSET = {"type": "agent_toolset_20260401"}
SERVER = {"type": "url", "name": "docs", "url": "https://mcp.example.com"}
ANTHROPIC_SKILL = {"type": "anthropic", "skill_id": "xlsx"}


def body_of(**params: Any) -> dict[str, Any]:
    return AgentCreate.model_validate({"model": "claude-sonnet-4-6", "name": "a", **params}).to_body()


def as_response(body: dict[str, Any], version: int = 1) -> dict[str, Any]:
    stamp = "2026-05-01T12:00:00.000000Z"
    return {"id": "agent_x", "type": "agent", "version": version, **body, "created_at": stamp, "updated_at": stamp}


def test_create_body_is_the_sdk_response_form() -> None:
    body = body_of(
        tools=[
            {**TOOLSET, "configs": [{"name": "read", "permission_policy": {"type": "auto"}}, {"name": "web_search"}]},
            {"type": "mcp_toolset", "mcp_server_name": "docs", "configs": [{"name": "search", "enabled": False}]},
            {"type": "custom", "name": "t", "description": "d", "input_schema": {"type": "object", "required": []}},
        ],
        mcp_servers=[SERVER],
        skills=[{"type": "anthropic", "skill_id": "pdf", "version": None}],
        multiagent={"type": "multiagent_20261001", "advisor": {"type": "enabled", "model": "claude-opus-4-6"}},
        model={"id": "claude-sonnet-4-6", "effort": {"type": "medium"}},
        unknown_key="ignored",
    )
    body["multiagent"] = pin_multiagent(body["multiagent"], self_ref=("agent_x", 1), found={})
    agent = validate_type(type_=BetaManagedAgentsAgent, value=as_response(body))
    toolset = body["tools"][0]
    assert toolset["default_config"] == {"enabled": True, "permission_policy": {"type": "always_allow"}}
    assert toolset["configs"][0]["permission_policy"] == {"type": "auto"}
    assert toolset["configs"][1] == {**toolset["default_config"], "type": "web_search", "name": "web_search"}
    assert body["tools"][1]["configs"] == [
        {"name": "search", "enabled": False, "permission_policy": {"type": "always_ask"}}
    ]
    assert agent.skills[0].version == "latest" and body["model"]["effort"] == {"type": "medium"}
    assert body["multiagent"]["subagents"] == {
        "type": "enabled",
        "inline_agents": {"type": "enabled"},
        "predefined_agents": [],
    }


@pytest.mark.parametrize(
    "params",
    [
        {"tools": [{"type": "custom", "name": "bash", "description": "", "input_schema": {"type": "object"}}, TOOLSET]},
        {"mcp_servers": [SERVER, SERVER], "tools": [{"type": "mcp_toolset", "mcp_server_name": "docs"}]},
        {"skills": [{"type": "custom", "skill_id": "skill_a"}] * 2, "tools": [TOOLSET]},
        {"tools": [{**TOOLSET, "configs": [{"name": "read", "enabled": False}]}], "skills": [ANTHROPIC_SKILL]},
        {"metadata": {"": "empty key"}},
    ],
)  # fmt: skip
def test_cross_field_rules_raise_schema_errors(params: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        body_of(**params)


@pytest.mark.parametrize(
    "url_sources",
    [
        {"user_input": "none", "client_tool_results": "none", "server_tool_results": "none"},
        {"server_tool_results": {"type": "only", "tools": [{"type": "tool_reference", "name": "bash"}]}},
        {"client_tool_results": {"type": "only", "tools": []}},
        {"client_tool_results": {"type": "all", "tools": [{"type": "tool_reference", "name": "x"}]}},
    ],
)
def test_bad_url_sources_fail_validation(url_sources: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        body_of(tools=[{**TOOLSET, "configs": [{"name": "web_fetch", "url_sources": url_sources}]}])


def test_url_sources_must_name_existing_custom_tools() -> None:
    only = {"type": "only", "tools": [{"type": "tool_reference", "name": "lookup"}]}
    config = {"name": "web_fetch", "url_sources": {"client_tool_results": only}}
    with pytest.raises(SchemaError):
        body_of(tools=[{**TOOLSET, "configs": [config]}])
    custom = {"type": "custom", "name": "lookup", "description": "d", "input_schema": {"type": "object"}}
    body = body_of(tools=[{**TOOLSET, "configs": [config]}, custom])
    assert body["tools"][0]["configs"][0]["url_sources"] == {"client_tool_results": only}


def test_update_distinguishes_absent_null_and_value() -> None:
    current = body_of(description="d", system="s", metadata={"a": "1"}, model={"id": "m", "effort": "low"})
    assert AgentUpdate.model_validate({}).apply(current) == current
    assert AgentUpdate.model_validate({"metadata": None}).apply(current) == current
    changed = AgentUpdate.model_validate({"description": None, "system": "", "metadata": {"a": None, "b": "2"}})
    result = changed.apply(current)
    assert result["description"] is None and result["system"] is None and result["metadata"] == {"b": "2"}
    assert AgentUpdate.model_validate({"model": "m"}).apply(current)["model"] == {"id": "m", "effort": {"type": "low"}}
    assert AgentUpdate.model_validate({"model": "n"}).apply(current)["model"] == {"id": "n", "effort": {"type": "high"}}
    for cleared in ({"name": None}, {"model": None}):
        with pytest.raises(SchemaError):
            AgentUpdate.model_validate(cleared).apply(current)


def test_session_snapshot_drops_agent_only_fields() -> None:
    agent = as_response(body_of(description="d", metadata={"k": "v"}), version=3)
    agent["archived_at"] = None
    snapshot = session_agent_snapshot(agent)
    assert set(snapshot) == {
        "id",
        "type",
        "version",
        "name",
        "model",
        "tools",
        "mcp_servers",
        "skills",
        "execution_identity",
        "description",
        "system",
        "multiagent",
    }
    assert validate_type(type_=BetaManagedAgentsSessionAgent, value=snapshot).version == 3


def test_session_snapshot_expands_a_pinned_roster() -> None:
    helper = as_response(body_of(name="helper"), version=2) | {"id": "agent_h"}
    pending = body_of(multiagent={"type": "coordinator", "agents": ["agent_h", {"type": "self"}]})["multiagent"]
    assert roster_refs(pending) == [("agent_h", None)]
    found = {("agent_h", None): RosterAgent(version=2, archived=False, multiagent=False)}
    pinned = pin_multiagent(pending, self_ref=("agent_x", 1), found=found)
    assert pinned["agents"] == [
        {"type": "agent", "id": "agent_h", "version": 2},
        {"type": "agent", "id": "agent_x", "version": 1},
    ]
    coordinator = as_response(body_of(name="boss") | {"multiagent": pinned})
    validate_type(type_=BetaManagedAgentsAgent, value=coordinator)
    roster = {("agent_h", 2): helper, ("agent_x", 1): coordinator}
    snapshot = session_agent_snapshot(coordinator, roster)
    validate_type(type_=BetaManagedAgentsSessionAgent, value=snapshot)
    assert [a["name"] for a in snapshot["multiagent"]["agents"]] == ["helper", "boss"]
    assert session_agent_snapshot(coordinator)["multiagent"] is None
    with pytest.raises(SchemaError):
        session_agent_snapshot(coordinator, {})


@pytest.mark.parametrize(
    "info",
    [
        None,
        RosterAgent(version=1, archived=True, multiagent=False),
        RosterAgent(version=1, archived=False, multiagent=True),
    ],
)
def test_roster_must_name_live_single_agents(info: RosterAgent | None) -> None:
    pending = body_of(multiagent={"type": "coordinator", "agents": [{"type": "agent", "id": "agent_h"}]})["multiagent"]
    found = {} if info is None else {("agent_h", None): info}
    with pytest.raises(SchemaError):
        pin_multiagent(pending, self_ref=("agent_x", 1), found=found)


def test_overrides_replace_whole_fields() -> None:
    base = session_agent_snapshot(as_response(body_of(system="s", model={"id": "m", "effort": "max"}, tools=[TOOLSET])))
    result = apply_overrides(base, {"model": {"id": "other", "effort": "low"}, "system": None, "tools": []})
    assert result["model"] == {"id": "other", "effort": {"type": "max"}}
    assert result["system"] is None and result["tools"] == [] and result["id"] == "agent_x"
    validate_type(type_=BetaManagedAgentsSessionAgent, value=result)
    assert apply_overrides(base, {}) == base


def test_override_errors() -> None:
    base = session_agent_snapshot(
        as_response(
            body_of(
                tools=[TOOLSET, {"type": "mcp_toolset", "mcp_server_name": "docs"}],
                mcp_servers=[SERVER],
                skills=[ANTHROPIC_SKILL],
            )
        )
    )
    with pytest.raises(SchemaError) as caught:
        apply_overrides(base, {"model": None})
    assert caught.value.error_code == "agent_model_required"
    for overrides in ({"tools": []}, {"mcp_servers": []}, {"system": 5}, {"tools": [{"type": "nope"}]}):
        with pytest.raises(SchemaError):
            apply_overrides(base, overrides)


def test_metadata_merge_and_limits() -> None:
    assert merge_metadata({"a": "1", "b": "2"}, {"a": None, "b": "", "c": "3"}, empty_deletes=True) == {"c": "3"}
    assert merge_metadata({"b": "2"}, {"b": ""}) == {"b": ""}
    with pytest.raises(SchemaError) as caught:
        merge_metadata({f"k{i}": "v" for i in range(16)}, {"x": "y"})
    assert caught.value.error_code == "invalid_metadata"


def test_environment_config_merges_over_the_stored_one() -> None:
    stored = EnvironmentCreate.model_validate({"name": "e", "config": {"type": "cloud"}}).to_row()["config"]
    assert stored["networking"] == {"type": "unrestricted"} and stored["packages"]["apt"] == []
    limited = normalize_config(
        EnvironmentCreate.model_validate(
            {"name": "e", "config": {"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": True}}}
        ).config,
        stored,
    )
    assert limited["networking"]["allow_mcp_servers"] is True and limited["networking"]["allowed_hosts"] == []
    with pytest.raises(SchemaError) as caught:
        normalize_config(
            EnvironmentCreate.model_validate({"name": "e", "config": {"type": "self_hosted"}}).config, stored
        )
    assert caught.value.error_code == "invalid_config_type_change"
