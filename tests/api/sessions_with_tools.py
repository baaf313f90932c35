"""Driving tool calls through sessions with the scripted model, one turn at a time (shared by the e2e tests)."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from tests.helpers import make_agent, make_environment, user_message, wait_for_idle_events

TOOLSET = {"type": "agent_toolset_20260401"}


def call(name: str, tool_input: dict[str, Any]) -> str:
    return f"[[tool:{name} {json.dumps(tool_input)}]]"


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


class ToolSession:
    """A session whose turns each make one tool call; ``run`` returns that call's ``agent.tool_result``."""

    def __init__(self, client: anthropic.Anthropic, agent_id: str | None = None, **session: Any) -> None:
        self.client = client
        agent_id = agent_id or make_agent(client, tools=[TOOLSET]).id
        environment = make_environment(client)
        self.session = client.beta.sessions.create(agent=agent_id, environment_id=environment.id, **session)
        self.id = self.session.id
        self.turns = 0

    def send(self, name: str, tool_input: dict[str, Any]) -> None:
        self.client.beta.sessions.events.send(self.id, events=[user_message(call(name, tool_input))])
        self.turns += 1

    def result(self, timeout: float = 90) -> Any:
        events = wait_for_idle_events(self.client, self.id, self.turns, timeout=timeout)
        results = [e for e in events if e.type == "agent.tool_result"]
        assert len(results) == self.turns, [e.type for e in events]
        return results[-1]

    def run(self, name: str, tool_input: dict[str, Any], timeout: float = 90) -> Any:
        self.send(name, tool_input)
        return self.result(timeout)
