"""Fields this server cannot honour yet are refused with a 400 naming them, and nothing is written (api/unsupported.py).

Empty values and defaults stay accepted, so a client that sends back what it read keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from tests.helpers import make_agent, make_environment, make_session

TOOLSET = {"type": "agent_toolset_20260401"}
SERVER = {"type": "url", "name": "docs", "url": "https://mcp.example.com"}
MCP_TOOLSET = {"type": "mcp_toolset", "mcp_server_name": "docs"}
BUDGET = {"type": "limit", "max_list_cost": {"amount": "25", "currency": "USD"}}

# (field named in the message, the agent fields that use it)
AGENT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("mcp_servers", {"mcp_servers": [SERVER], "tools": [MCP_TOOLSET]}),
    ("tools[].mcp_toolset", {"tools": [TOOLSET, MCP_TOOLSET]}),
    ("skills", {"skills": [{"type": "anthropic", "skill_id": "xlsx"}], "tools": [TOOLSET]}),
    ("multiagent", {"multiagent": {"type": "coordinator", "agents": [{"type": "self"}]}}),
    ("model.effort", {"model": {"id": "claude-sonnet-4-6", "effort": "low"}}),
    ("model.effort", {"model": {"id": "claude-sonnet-4-6", "effort": {"type": "max"}}}),
    ("model.speed", {"model": {"id": "claude-sonnet-4-6", "speed": "fast"}}),
]


def refused(call: Callable[[], Any], field: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    assert f"{field} is not supported by this server yet" in caught.value.message


@pytest.mark.parametrize(("field", "fields"), AGENT_CASES)
def test_agent_create_and_update_refuse(client: anthropic.Anthropic, field: str, fields: dict[str, Any]) -> None:
    before = {a.id for a in client.beta.agents.list(limit=100)}
    refused(lambda: make_agent(client, **fields), field)
    assert {a.id for a in client.beta.agents.list(limit=100)} <= before
    agent = make_agent(client)
    refused(lambda: client.beta.agents.update(agent.id, version=1, **fields), field)
    assert client.beta.agents.retrieve(agent.id).version == 1


@pytest.mark.parametrize(("field", "fields"), [c for c in AGENT_CASES if c[0] != "multiagent"])
def test_session_agent_overrides_refuse(client: anthropic.Anthropic, field: str, fields: dict[str, Any]) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    override = {"type": "agent_with_overrides", "id": agent.id, **fields}
    refused(lambda: client.beta.sessions.create(agent=override, environment_id=env.id), f"agent.{field}")  # type: ignore[arg-type]
    assert list(client.beta.sessions.list(agent_id=agent.id, include_archived=True)) == []


def test_session_agent_update_refuses_mcp(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    refused(lambda: client.beta.sessions.update(session.id, agent={"mcp_servers": [SERVER]}), "agent.mcp_servers")  # type: ignore[typeddict-item]
    refused(
        lambda: client.beta.sessions.update(session.id, agent={"tools": [MCP_TOOLSET]}), "agent.tools[].mcp_toolset"
    )  # type: ignore[typeddict-item]
    assert client.beta.sessions.retrieve(session.id).updated_at == session.updated_at


def test_budget_is_refused(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    refused(lambda: client.beta.sessions.create(agent=agent.id, environment_id=env.id, budget=BUDGET), "budget")  # type: ignore[arg-type]
    assert list(client.beta.sessions.list(agent_id=agent.id, include_archived=True)) == []
    session = make_session(client, agent=agent.id, environment_id=env.id)
    refused(lambda: client.beta.sessions.update(session.id, budget=BUDGET), "budget")  # type: ignore[arg-type]
    cleared = client.beta.sessions.update(session.id, budget=None)
    assert cleared.budget is None and client.beta.sessions.retrieve(session.id).budget is None


def test_empty_values_and_defaults_stay_accepted(client: anthropic.Anthropic) -> None:
    agent = make_agent(
        client,
        tools=[TOOLSET],
        mcp_servers=[],
        skills=[],
        multiagent=None,
        model={"id": "claude-sonnet-4-6", "effort": "high", "speed": "standard"},
    )
    assert agent.mcp_servers == [] and agent.skills == [] and agent.multiagent is None
    # What the server returns can be sent back as it is.
    again = client.beta.agents.update(
        agent.id,
        version=1,
        model=agent.model.to_dict(),
        mcp_servers=[],
        skills=[],
        multiagent=None,  # type: ignore[arg-type]
    )
    assert again.version == 1
    limited = {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": []}}
    env = client.beta.environments.create(name="limited", config=limited)  # type: ignore[arg-type]
    override = {"type": "agent_with_overrides", "id": agent.id, "mcp_servers": [], "skills": [], "tools": [TOOLSET]}
    session = client.beta.sessions.create(agent=override, environment_id=env.id, budget=None)  # type: ignore[arg-type]
    assert session.budget is None
    assert client.beta.sessions.update(session.id, agent={"mcp_servers": []}).agent.mcp_servers == []  # type: ignore[typeddict-item]
