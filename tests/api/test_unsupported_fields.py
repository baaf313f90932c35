"""Fields this server cannot honour yet are refused with a 400 naming them, and nothing is written (api/unsupported.py).

Empty values and defaults stay accepted, so a client that sends back what it read keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from tests.helpers import make_agent

TOOLSET = {"type": "agent_toolset_20260401"}
# (field named in the message, the agent fields that use it)
AGENT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("multiagent", {"multiagent": {"type": "coordinator", "agents": [{"type": "self"}]}}),
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
