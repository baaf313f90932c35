"""The model's wakeup tools end to end: the built-in ``dma://wakeups`` MCP server, called by the scripted model
through the MCP path (``agent.mcp_tool_use`` / ``agent.mcp_tool_result``), on both databases and real Temporal.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx

from activities.mcp.builtin import BuiltinServers
from activities.mcp.connection import McpCallError
from dma.builtin_mcp import WAKEUPS_URL
from dma.ids import derived_id
from dma.store import wakeups as wakeup_rows
from dma.temporal import connect_client
from dma.wakeups import WakeupLimits, Wakeups
from tests.api.mcp_helpers import blocked, mcp_call, of_type, send, turns_ended, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session
from tests.stack import Stack
from tests.temporal_helpers import describe_schedule
from workflows.schedule_entry import wakeup_schedule_id
from workflows.session_entry import SessionLaunch
from workflows.wakeup_entry import TemporalWakeups

SERVER = "wakeups"
WAKEUP_TOOLS = {"mcp__wakeups__wake_me", "mcp__wakeups__list_wakeups", "mcp__wakeups__cancel_wakeup"}


def wakeup_agent(client: anthropic.Anthropic, policy: str | None = "always_allow") -> Any:
    toolset: dict[str, Any] = {"type": "mcp_toolset", "mcp_server_name": SERVER}
    if policy is not None:
        toolset["default_config"] = {"permission_policy": {"type": policy}}
    servers = [{"type": "url", "name": SERVER, "url": "dma://wakeups"}]
    return make_agent(client, tools=[toolset], mcp_servers=servers)


def wakeup_session(client: anthropic.Anthropic, policy: str | None = "always_allow") -> Any:
    return make_session(client, agent=wakeup_agent(client, policy).id)


def call(tool: str, tool_input: dict[str, Any]) -> str:
    return mcp_call(tool, tool_input, server=SERVER)


def payload(result: Any) -> Any:
    assert result.is_error is False, result.content[0].text
    return json.loads(result.content[0].text)


def wakeups_of(http: httpx.Client, session_id: str, *, inactive: bool = False) -> list[dict[str, Any]]:
    params = {"include_inactive": "true"} if inactive else {}
    response = http.get(f"/v1/sessions/{session_id}/wakeups", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_wake_me_starts_a_turn_whose_context_shows_the_reason(
    client: anthropic.Anthropic, http: httpx.Client, model_server: FakeModelServer
) -> None:
    session = wakeup_session(client)
    model_server.reset()
    send(client, session.id, call("wake_me", {"reason": "turn the bread", "in_seconds": 2}))
    events = wait_until(client, session.id, turns_ended(2), timeout=40)
    use = of_type(events, "agent.mcp_tool_use")[0]
    assert (use.name, use.mcp_server_name, use.evaluated_permission) == ("wake_me", SERVER, "allow")
    wakeup = payload(of_type(events, "agent.mcp_tool_result")[0])
    assert wakeup["id"] == derived_id("wake", use.id), "the id derives from the call: a retry creates no second one"
    assert (wakeup["kind"], wakeup["reason"], wakeup["session_id"]) == ("once", "turn the bread", session.id)
    offered = {tool["name"] for tool in model_server.requests[0].body["tools"]}
    assert WAKEUP_TOOLS <= offered, "the built-in server's tools are in the model request like any MCP server's"
    system = of_type(events, "system.message")[0]
    assert "turn the bread" in system.content[0].text and wakeup["id"] in system.content[0].text
    kinds = [e.type for e in events]
    assert kinds.index("system.message") > kinds.index("session.status_idle"), "the wakeup started a second turn"
    woken = [r for r in model_server.requests if "Reason: turn the bread" in str(r.body.get("messages"))]
    assert woken, "the model's context shows the wakeup's reason"
    (done,) = wakeups_of(http, session.id, inactive=True)
    assert (done["id"], done["status"], done["fire_count"]) == (wakeup["id"], "fired", 1)


def test_a_recurring_wakeup_fires_twice_and_is_cancelled_by_the_model(
    client: anthropic.Anthropic, http: httpx.Client, stack: Stack
) -> None:
    session = wakeup_session(client)
    send(client, session.id, call("wake_me", {"reason": "tick", "every_seconds": 1}))  # the test stack's minimum
    events = wait_until(client, session.id, lambda evs: len(of_type(evs, "system.message")) >= 2, timeout=40)
    wakeup = payload(of_type(events, "agent.mcp_tool_result")[0])
    assert wakeup["kind"] == "recurring" and wakeup["schedule"] == {"type": "interval", "every_seconds": 1}
    schedule_id = wakeup_schedule_id(session.id, wakeup["id"])
    assert describe_schedule(stack.temporal_address, schedule_id) is not None
    send(client, session.id, call("cancel_wakeup", {"wakeup_id": wakeup["id"]}))
    events = wait_until(client, session.id, lambda evs: len(of_type(evs, "agent.mcp_tool_result")) == 2, timeout=40)
    cancelled = payload(of_type(events, "agent.mcp_tool_result")[1])
    assert cancelled["id"] == wakeup["id"] and cancelled["status"] == "cancelled" and cancelled["fire_count"] >= 2
    assert describe_schedule(stack.temporal_address, schedule_id) is None, "cancelling deletes the schedule"
    time.sleep(1.5)
    settled = len(of_type(list(client.beta.sessions.events.list(session.id)), "system.message"))
    time.sleep(3)
    assert len(of_type(list(client.beta.sessions.events.list(session.id)), "system.message")) == settled


def test_list_wakeups_returns_them_and_refusals_are_tool_errors(
    client: anthropic.Anthropic, http: httpx.Client, model_server: FakeModelServer
) -> None:
    session = wakeup_session(client)
    good = call("wake_me", {"reason": "later", "in_seconds": 600}) + call(
        "wake_me", {"reason": "mornings", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris"}
    )
    bad = [
        ({"reason": "x", "in_seconds": 5, "every_seconds": 5}, "exactly one"),
        ({"reason": "x"}, "exactly one"),
        ({"reason": "x", "in_seconds": 60, "timezone": "UTC"}, "timezone goes with cron"),
        ({"reason": "x", "cron": "@hourly"}, "shortcuts"),
        ({"reason": "x", "cron": "0 * * * *", "timezone": "Moon/Base"}, "IANA"),
        ({"reason": "x", "at": "tomorrow"}, "at"),
        ({"reason": "x", "in_seconds": "5"}, "in_seconds"),
        ({"reason": "x", "in_seconds": 60, "session_id": "sesn_other"}, "unknown argument(s): session_id"),
        ({"in_seconds": 60}, "missing argument(s): reason"),
    ]
    wrong = "".join(call("wake_me", tool_input) for tool_input, _ in bad)
    send(client, session.id, good + wrong + call("cancel_wakeup", {"wakeup_id": "wake_missing"}))
    events = wait_until(client, session.id, turns_ended(1))
    results = of_type(events, "agent.mcp_tool_result")
    later, mornings = payload(results[0]), payload(results[1])
    assert mornings["schedule"] == {"type": "cron", "expression": "0 8 * * 1-5", "timezone": "Europe/Paris"}
    for result, (tool_input, says) in zip(results[2:-1], bad, strict=True):
        assert result.is_error is True and says in result.content[0].text, (tool_input, result.content[0].text)
    assert results[-1].is_error is True and "not found" in results[-1].content[0].text
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn", "refusals never end the turn"
    assert {w["id"] for w in wakeups_of(http, session.id)} == {later["id"], mornings["id"]}, "bad calls wrote nothing"
    send(client, session.id, call("list_wakeups", {}))
    events = wait_until(client, session.id, turns_ended(2))
    listed = payload(of_type(events, "agent.mcp_tool_result")[-1])
    assert {w["id"] for w in listed["data"]} == {later["id"], mornings["id"]} and listed["has_more"] is False
    assert {w["reason"] for w in listed["data"]} == {"later", "mornings"}


def test_the_per_session_limit_is_a_tool_error(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = wakeup_session(client)
    for index in range(10):
        response = http.post(f"/v1/sessions/{session.id}/wakeups", json={"reason": f"n{index}", "in_seconds": 3600})
        assert response.status_code == 200, response.text
    send(client, session.id, call("wake_me", {"reason": "one too many", "in_seconds": 3600}))
    events = wait_until(client, session.id, turns_ended(1))
    refused = of_type(events, "agent.mcp_tool_result")[0]
    assert refused.is_error is True and "wakeup_max_per_session" in refused.content[0].text
    assert of_type(events, "session.status_idle")[-1].stop_reason.type == "end_turn"
    assert len(wakeups_of(http, session.id)) == 10


def test_wakeup_tools_obey_always_ask(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = wakeup_session(client, policy="always_ask")
    send(client, session.id, call("wake_me", {"reason": "asked first", "in_seconds": 600}))
    events = wait_until(client, session.id, blocked)
    use = of_type(events, "agent.mcp_tool_use")[0]
    assert use.evaluated_permission == "ask" and use.evaluation.type == "always_ask"
    assert wakeups_of(http, session.id) == [], "nothing happens before a person answers"
    allow = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}
    client.beta.sessions.events.send(session.id, events=[allow])  # type: ignore[list-item]
    events = wait_until(client, session.id, turns_ended(1))
    allowed = payload(of_type(events, "agent.mcp_tool_result")[0])
    assert [w["id"] for w in wakeups_of(http, session.id)] == [allowed["id"]]
    send(client, session.id, call("wake_me", {"reason": "denied", "every_seconds": 600}))
    events = wait_until(client, session.id, lambda evs: len(of_type(evs, "agent.mcp_tool_use")) == 2 and blocked(evs))
    second = of_type(events, "agent.mcp_tool_use")[1]
    deny = {"type": "user.tool_confirmation", "tool_use_id": second.id, "result": "deny", "deny_message": "no"}
    client.beta.sessions.events.send(session.id, events=[deny])  # type: ignore[list-item]
    events = wait_until(client, session.id, turns_ended(2))
    assert of_type(events, "agent.mcp_tool_result")[1].is_error is True
    assert [w["id"] for w in wakeups_of(http, session.id, inactive=True)] == [allowed["id"]], "deny creates nothing"


def test_deleting_the_session_removes_the_schedule_the_model_made(
    client: anthropic.Anthropic, http: httpx.Client, stack: Stack
) -> None:
    session = wakeup_session(client)
    send(client, session.id, call("wake_me", {"reason": "hourly", "every_seconds": 3600}))
    events = wait_until(client, session.id, turns_ended(1))
    wakeup = payload(of_type(events, "agent.mcp_tool_result")[0])
    schedule_id = wakeup_schedule_id(session.id, wakeup["id"])
    assert describe_schedule(stack.temporal_address, schedule_id) is not None
    client.beta.sessions.delete(session.id)
    assert describe_schedule(stack.temporal_address, schedule_id) is None
    assert http.get(f"/v1/sessions/{session.id}/wakeups").status_code == 404


def test_agents_accept_the_builtin_url_and_refuse_other_dma_hosts(client: anthropic.Anthropic) -> None:
    agent = wakeup_agent(client)
    assert agent.mcp_servers[0].url == "dma://wakeups"
    for url in ("dma://nothing", "dma://wakeups/extra"):
        servers = [{"type": "url", "name": "x", "url": url}]
        tools = [{"type": "mcp_toolset", "mcp_server_name": "x"}]
        try:
            make_agent(client, tools=tools, mcp_servers=servers)
        except anthropic.BadRequestError as err:
            assert "names no built-in MCP server" in str(err) and "dma://wakeups" in str(err)
        else:
            raise AssertionError(f"{url} was accepted")


def test_a_retried_call_finds_the_wakeup_its_first_attempt_made(client: anthropic.Anthropic, stack: Stack) -> None:
    session = wakeup_session(client)

    async def twice() -> tuple[list[Any], int]:
        temporal = await connect_client(stack.temporal_address, "default")
        assert stack.db is not None
        wakeups = Wakeups(stack.db, TemporalWakeups(temporal, SessionLaunch(stack.task_queue)), WakeupLimits())
        servers = BuiltinServers.of(wakeups)
        arguments = {"reason": "once only", "in_seconds": 600}
        results = [await servers.call_tool(WAKEUPS_URL, session.id, "sevt_same", "wake_me", arguments) for _ in "ab"]
        async with stack.db.read() as db:
            count = await wakeup_rows.pending_count(db, session.id)
        try:
            await servers.list_tools("dma://nothing", session.id)
        except McpCallError as err:
            assert "no built-in MCP server" in str(err)
        else:
            raise AssertionError("an unknown built-in URL was served")
        return results, count

    results, count = stack.run(twice())
    first, second = (json.loads(r.content[0].text) for r in results)
    assert first == second and first["id"] == derived_id("wake", "sevt_same")
    assert count == 1
