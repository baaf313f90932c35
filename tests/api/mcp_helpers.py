"""Helpers for sessions whose agent uses an MCP server (tests/fakes/mcp_server.py) with a vault credential."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import anthropic

from tests.fakes.mcp_server import FakeMcpServer
from tests.helpers import TERMINAL_STOPS, make_agent, make_session, user_message

SERVER = "docs"


def mcp_call(tool: str, tool_input: dict[str, Any], server: str = SERVER) -> str:
    """A scripted-model directive that calls an MCP tool by the name the model is offered."""
    return f"[[tool:mcp__{server}__{tool} {json.dumps(tool_input)}]]"


def mcp_agent(
    client: anthropic.Anthropic,
    server: FakeMcpServer,
    policy: str | None = "always_allow",
    *,
    configs: list[dict[str, Any]] | None = None,
    builtin: bool = False,
) -> Any:
    toolset: dict[str, Any] = {"type": "mcp_toolset", "mcp_server_name": SERVER}
    if policy is not None:
        toolset["default_config"] = {"permission_policy": {"type": policy}}
    if configs is not None:
        toolset["configs"] = configs
    tools = [toolset, *([{"type": "agent_toolset_20260401"}] if builtin else [])]
    servers = [{"type": "url", "name": SERVER, "url": server.mcp_url}]
    return make_agent(client, tools=tools, mcp_servers=servers)


def bearer_vault(client: anthropic.Anthropic, server: FakeMcpServer, token: str | None = None) -> tuple[Any, str]:
    """A vault holding a static bearer token that ``server`` accepts."""
    token = token or "tok-" + secrets.token_hex(8)
    server.state.tokens.add(token)
    vault = client.beta.vaults.create(display_name="mcp")
    auth = {"type": "static_bearer", "token": token, "mcp_server_url": server.mcp_url}
    client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    return vault, token


def mcp_session(
    client: anthropic.Anthropic, server: FakeMcpServer, policy: str | None = "always_allow", **kw: Any
) -> Any:
    vault, _ = bearer_vault(client, server)
    agent = mcp_agent(client, server, policy, **{k: v for k, v in kw.items() if k in ("configs", "builtin")})
    return make_session(client, agent=agent.id, vault_ids=[vault.id])


def send(client: anthropic.Anthropic, session_id: str, text: str) -> None:
    client.beta.sessions.events.send(session_id, events=[user_message(text)])


def wait_until(
    client: anthropic.Anthropic, session_id: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> list[Any]:
    """Poll the event list until ``done`` holds; returns the list."""
    deadline = time.monotonic() + timeout
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        if done(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met: {[e.type for e in events]}")
        time.sleep(0.1)


def turns_ended(count: int) -> Callable[[list[Any]], bool]:
    def check(events: list[Any]) -> bool:
        ends = [e for e in events if e.type == "session.status_idle" and e.stop_reason.type in TERMINAL_STOPS]
        return len(ends) >= count

    return check


def blocked(events: list[Any]) -> bool:
    return any(e.type == "session.status_idle" and e.stop_reason.type == "requires_action" for e in events)


def of_type(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]
