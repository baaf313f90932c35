"""MCP end to end: a real MCP server (official ``mcp`` SDK, streamable HTTP on loopback), sessions through the SDK.

The model is the scripted one; it calls the tools by the names dma offers (``mcp__docs__<tool>``).
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from dma.store.tables import SessionMcpTools
from tests.api.mcp_helpers import (
    SERVER,
    bearer_vault,
    blocked,
    mcp_agent,
    mcp_call,
    mcp_session,
    of_type,
    send,
    turns_ended,
    wait_until,
)
from tests.fakes.mcp_server import PNG, FakeMcpServer
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session
from tests.stack import Stack


def tool_names(request_body: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in request_body.get("tools", [])]


def test_tools_are_offered_and_a_call_runs_with_the_vault_token(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer, model_server: FakeModelServer, stack: Stack
) -> None:
    vault, token = bearer_vault(client, mcp_server)
    agent = mcp_agent(client, mcp_server, builtin=True)
    session = make_session(client, agent=agent.id, vault_ids=[vault.id])
    model_server.reset()
    send(client, session.id, mcp_call("echo", {"text": "hello"}))
    events = wait_until(client, session.id, turns_ended(1))
    use = of_type(events, "agent.mcp_tool_use")[0]
    assert (use.name, use.mcp_server_name, use.input) == ("echo", SERVER, {"text": "hello"})
    assert use.evaluated_permission == "allow" and use.evaluation is not None and use.evaluation.type == "always_allow"
    result = of_type(events, "agent.mcp_tool_result")[0]
    assert result.mcp_tool_use_id == use.id and result.is_error is False
    assert result.content is not None and result.content[0].type == "text" and result.content[0].text == "echo: hello"
    first, second = model_server.requests[0].body, model_server.requests[1].body
    offered = tool_names(first)
    assert {"mcp__docs__echo", "mcp__docs__slow", "mcp__docs__image", "bash"} <= set(offered)
    assert offered == tool_names(second), "the same tools, under the same names, on every step"
    reply = second["messages"][-1]["content"][0]
    assert reply["type"] == "tool_result" and reply["content"][0]["text"] == "echo: hello"
    assert second["messages"][-2]["content"][-1]["name"] == "mcp__docs__echo"
    assert token in mcp_server.state.authorizations, "the server got the vault's token"
    rows = stack.run(_cached(stack, session.id))
    assert [row.server_name for row in rows] == [SERVER]


def test_error_image_and_document_results_reach_the_model(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer, model_server: FakeModelServer
) -> None:
    session = mcp_session(client, mcp_server)
    model_server.reset()
    calls = mcp_call("fail", {"reason": "nope"}) + mcp_call("image", {}) + mcp_call("document", {})
    send(client, session.id, calls)
    events = wait_until(client, session.id, turns_ended(1))
    failed, image, document = of_type(events, "agent.mcp_tool_result")
    assert failed.is_error is True and "failed on purpose: nope" in failed.content[0].text
    assert image.is_error is False and image.content[0].type == "image"
    assert image.content[0].source.type == "base64" and image.content[0].source.media_type == "image/png"
    kinds = [block.type for block in document.content]
    assert kinds == ["text", "document"] and document.content[1].source.data == "the notes"
    idle = of_type(events, "session.status_idle")[-1]
    assert idle.stop_reason.type == "end_turn", "a tool's own error result is a normal result"
    results = model_server.requests[-1].body["messages"][-1]["content"]
    assert results[0]["is_error"] is True
    assert results[1]["content"][0]["type"] == "image"
    assert results[1]["content"][0]["source"]["data"] == __import__("base64").b64encode(PNG).decode()
    assert len(mcp_server.calls_of("fail")) >= 1


def test_always_ask_then_allow_and_deny(client: anthropic.Anthropic, mcp_server: FakeMcpServer) -> None:
    session = mcp_session(client, mcp_server, policy=None)
    send(client, session.id, mcp_call("echo", {"text": "asked"}))
    events = wait_until(client, session.id, blocked)
    use = of_type(events, "agent.mcp_tool_use")[0]
    assert use.evaluated_permission == "ask" and use.evaluation.type == "always_ask", "MCP tools ask by default"
    assert of_type(events, "session.status_idle")[-1].stop_reason.event_ids == [use.id]
    before = len(mcp_server.calls_of("echo"))
    allow = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}
    client.beta.sessions.events.send(session.id, events=[allow])  # type: ignore[list-item]
    events = wait_until(client, session.id, turns_ended(1))
    assert of_type(events, "agent.mcp_tool_result")[0].content[0].text == "echo: asked"
    assert len(mcp_server.calls_of("echo")) == before + 1
    send(client, session.id, mcp_call("echo", {"text": "denied"}))
    events = wait_until(client, session.id, lambda evs: len(of_type(evs, "agent.mcp_tool_use")) == 2 and blocked(evs))
    second = of_type(events, "agent.mcp_tool_use")[1]
    deny = {"type": "user.tool_confirmation", "tool_use_id": second.id, "result": "deny", "deny_message": "not now"}
    client.beta.sessions.events.send(session.id, events=[deny])  # type: ignore[list-item]
    events = wait_until(client, session.id, turns_ended(2))
    denial = of_type(events, "agent.mcp_tool_result")[1]
    assert denial.mcp_tool_use_id == second.id and denial.is_error is True and "not now" in denial.content[0].text
    assert len(mcp_server.calls_of("echo")) == before + 1, "a denied call never reaches the server"


def test_per_tool_configs_disable_and_allow(
    client: anthropic.Anthropic, mcp_server: FakeMcpServer, model_server: FakeModelServer
) -> None:
    configs = [
        {"name": "fail", "enabled": False},
        {"name": "echo", "permission_policy": {"type": "always_allow"}},
    ]
    vault, _ = bearer_vault(client, mcp_server)
    agent = mcp_agent(client, mcp_server, policy=None, configs=configs)
    session = make_session(client, agent=agent.id, vault_ids=[vault.id])
    model_server.reset()
    send(client, session.id, mcp_call("echo", {"text": "x"}))
    events = wait_until(client, session.id, turns_ended(1))
    assert of_type(events, "agent.mcp_tool_use")[0].evaluated_permission == "allow"
    offered = tool_names(model_server.requests[0].body)
    assert "mcp__docs__fail" not in offered and "mcp__docs__add" in offered


def test_interrupt_during_a_slow_mcp_call(client: anthropic.Anthropic, mcp_server: FakeMcpServer) -> None:
    session = mcp_session(client, mcp_server)
    started = mcp_server.state.slow_started
    send(client, session.id, mcp_call("slow", {"seconds": 60}))
    wait_until(client, session.id, lambda evs: bool(of_type(evs, "agent.mcp_tool_use")))
    deadline = time.monotonic() + 20
    while mcp_server.state.slow_started == started and time.monotonic() < deadline:
        time.sleep(0.05)
    asked = time.monotonic()
    client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
    events = wait_until(client, session.id, turns_ended(1), timeout=20)
    assert time.monotonic() - asked < 10, "the interrupt did not wait for the 60 s call"
    result = of_type(events, "agent.mcp_tool_result")[0]
    assert result.is_error is True and "interrupted" in result.content[0].text
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn"


def test_tool_lists_are_cached_until_the_agent_changes(
    client: anthropic.Anthropic, model_server: FakeModelServer
) -> None:
    with FakeMcpServer() as server:
        session = mcp_session(client, server)
        model_server.reset()
        send(client, session.id, "hi")
        wait_until(client, session.id, turns_ended(1))
        assert server.server is not None
        server.server.add_tool(lambda: "late", name="late", description="added later")
        send(client, session.id, "again")
        wait_until(client, session.id, turns_ended(2))
        assert "mcp__docs__late" not in tool_names(model_server.requests[-1].body), "the list is fetched once"
        agent = client.beta.sessions.retrieve(session.id).agent
        servers = [s.to_dict() for s in agent.mcp_servers]
        tools = [t.to_dict() for t in agent.tools] + [{"type": "agent_toolset_20260401"}]
        client.beta.sessions.update(session.id, agent={"tools": tools, "mcp_servers": servers})  # type: ignore[arg-type]
        send(client, session.id, "and again")
        wait_until(client, session.id, turns_ended(3))
        assert "mcp__docs__late" in tool_names(model_server.requests[-1].body), "an agent change lists afresh"


def test_sse_transport(client: anthropic.Anthropic) -> None:
    with FakeMcpServer(transport="sse") as server:
        session = mcp_session(client, server)
        send(client, session.id, mcp_call("add", {"a": 2, "b": 3}))
        events = wait_until(client, session.id, turns_ended(1))
    result = of_type(events, "agent.mcp_tool_result")[0]
    assert result.is_error is False and '"sum": 5' in result.content[0].text


async def _cached(stack: Stack, session_id: str) -> list[SessionMcpTools]:
    from sqlmodel import select

    assert stack.db is not None
    async with stack.db.read() as db:
        rows = await db.exec(select(SessionMcpTools).where(SessionMcpTools.session_id == session_id))
        return list(rows.all())


@pytest.fixture(autouse=True)
def _reset_model(model_server: FakeModelServer) -> None:
    model_server.reset()
