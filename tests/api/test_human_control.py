"""Permission policies, confirmations, custom tools and interrupt: API_CONTRACT.md §6 scenarios 13–17."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from activities.model.scripted_wire import ScriptedReply
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, until_idle, user_message, wait_for_event, wait_for_idle_events

ASK_BASH = [
    {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "permission_policy": {"type": "always_ask"}}]}
]
WEATHER = {
    "type": "custom",
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
BASH = '[[tool:bash {"command": "echo hi"}]]'


def blocked_session(client: anthropic.Anthropic, tools: list[Any], text: str) -> tuple[Any, list[Any]]:
    session = make_session(client, agent=make_agent(client, tools=tools).id)
    with client.beta.sessions.events.stream(session.id) as stream:
        client.beta.sessions.events.send(session.id, events=[user_message(text)])
        events = []
        for event in stream:
            events.append(event)
            if event.type == "session.status_idle":
                break
    return session, events


def test_always_ask_blocks_then_allow_runs(client: anthropic.Anthropic) -> None:
    session, events = blocked_session(client, ASK_BASH, BASH)
    use = next(e for e in events if e.type == "agent.tool_use")
    assert use.name == "bash" and use.evaluated_permission == "ask" and use.evaluation.type == "always_ask"
    idle = events[-1]
    assert idle.stop_reason.type == "requires_action" and idle.stop_reason.event_ids == [use.id]
    assert [e.type for e in events][-2] == "session.usage"
    assert client.beta.sessions.retrieve(session.id).status == "idle"
    with client.beta.sessions.events.stream(session.id) as stream:
        sent = client.beta.sessions.events.send(
            session.id, events=[{"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}]
        )
        after = until_idle(stream)
    assert sent.data[0].type == "user.tool_confirmation"
    kinds = [e.type for e in after]
    assert kinds[:2] == ["user.tool_confirmation", "session.status_running"]
    result = after[kinds.index("agent.tool_result")]
    assert result.tool_use_id == use.id
    assert after[-1].stop_reason.type == "end_turn"


def test_deny_with_message_reaches_the_model(client: anthropic.Anthropic) -> None:
    session, events = blocked_session(client, ASK_BASH, BASH)
    use = next(e for e in events if e.type == "agent.tool_use")
    confirmation = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "deny", "deny_message": "no"}
    client.beta.sessions.events.send(session.id, events=[confirmation])
    events = wait_for_idle_events(client, session.id, 1)
    result = next(e for e in events if e.type == "agent.tool_result")
    assert result.is_error is True and "denied" in result.content[0].text and "no" in result.content[0].text
    assert "Permission to use bash has been denied." in result.content[0].text


def test_custom_tool_round_trip_with_rich_content(client: anthropic.Anthropic) -> None:
    session, events = blocked_session(client, [WEATHER], '[[tool:get_weather {"city": "Paris"}]]')
    use = next(e for e in events if e.type == "agent.custom_tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert events[-1].stop_reason.type == "requires_action" and events[-1].stop_reason.event_ids == [use.id]
    content = [
        {"type": "text", "text": "sunny, 21C"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "forecast"}, "title": "f"},
    ]
    sent = client.beta.sessions.events.send(
        session.id, events=[{"type": "user.custom_tool_result", "custom_tool_use_id": use.id, "content": content}]
    )
    assert sent.data[0].processed_at is not None
    events = wait_for_idle_events(client, session.id, 1)
    assert events[-1].stop_reason.type == "end_turn"
    final = [e for e in events if e.type == "agent.message"][-1]
    assert "get_weather" in final.content[0].text and "sunny" in final.content[0].text


def test_two_blocking_calls_answered_one_at_a_time(client: anthropic.Anthropic) -> None:
    text = '[[tool:bash {"command": "a"}]] [[tool:bash {"command": "b"}]]'
    session, events = blocked_session(client, ASK_BASH, text)
    uses = [e for e in events if e.type == "agent.tool_use"]
    assert len(uses) == 2 and events[-1].stop_reason.event_ids == [u.id for u in uses]
    with client.beta.sessions.events.stream(session.id) as stream:
        client.beta.sessions.events.send(
            session.id, events=[{"type": "user.tool_confirmation", "tool_use_id": uses[0].id, "result": "allow"}]
        )
        partial = []
        for event in stream:
            partial.append(event)
            if event.type == "session.status_idle":
                break
    assert partial[-1].stop_reason.type == "requires_action"
    assert partial[-1].stop_reason.event_ids == [uses[1].id]
    client.beta.sessions.events.send(
        session.id, events=[{"type": "user.tool_confirmation", "tool_use_id": uses[1].id, "result": "deny"}]
    )
    events = wait_for_idle_events(client, session.id, 1)
    results = {e.tool_use_id: e for e in events if e.type == "agent.tool_result"}
    assert set(results) == {uses[0].id, uses[1].id}
    assert "denied" in results[uses[1].id].content[0].text


def test_auto_policy_allows_reads_and_asks_for_the_rest(client: anthropic.Anthropic) -> None:
    tools = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "auto"}}}]
    text = '[[tool:read {"file_path": "a.txt"}]] [[tool:bash {"command": "rm -rf /"}]]'
    _, events = blocked_session(client, tools, text)
    read, bash = [e for e in events if e.type == "agent.tool_use"]
    assert read.evaluated_permission == "allow" and read.evaluation.type == "auto"
    assert read.evaluation.evaluated_permission.type == "allow"
    assert bash.evaluated_permission == "ask" and bash.evaluation.evaluated_permission.type == "ask"
    assert bash.evaluation.evaluated_permission.reason_code == "indeterminate"
    assert events[-1].stop_reason.event_ids == [bash.id]


def test_disabled_tool_is_denied_without_asking(client: anthropic.Anthropic) -> None:
    tools = [{"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": False}]}]
    session = make_session(client, agent=make_agent(client, tools=tools).id)
    client.beta.sessions.events.send(session.id, events=[user_message(BASH)])
    events = wait_for_idle_events(client, session.id, 1)
    use = next(e for e in events if e.type == "agent.tool_use")
    assert use.evaluated_permission == "deny" and use.evaluation is None
    result = next(e for e in events if e.type == "agent.tool_result")
    assert result.is_error and "denied" in result.content[0].text
    assert events[-1].stop_reason.type == "end_turn"


def test_interrupt_jumps_the_queue(
    client: anthropic.Anthropic, model_server: FakeModelServer, scenario_model: str
) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    # Scripted replies, not directives: the cut-off turn leaves no answer, so both user messages merge in context.
    model_server.enqueue(ScriptedReply(text=" ".join(["word"] * 10), chunk_delay=2.0), ScriptedReply(text="quick"))
    client.beta.sessions.events.send(session.id, events=[user_message("a long answer")])
    wait_for_event(client, session.id, "span.model_request_start")
    with client.beta.sessions.events.stream(session.id) as stream:
        started = time.monotonic()
        sent = client.beta.sessions.events.send(
            session.id, events=[{"type": "user.interrupt"}, user_message("next one")]
        )
        assert sent.data[0].type == "user.interrupt" and sent.data[0].processed_at is None
        events = until_idle(stream, turns=2)
        assert time.monotonic() - started < 10
    kinds = [e.type for e in events]
    first_idle = kinds.index("session.status_idle")
    assert "user.interrupt" in kinds[:first_idle]
    assert events[first_idle].stop_reason.type == "end_turn"
    assert kinds[first_idle + 1 :].count("session.status_running") == 1
    assert kinds[-1] == "session.status_idle"
    listed = list(client.beta.sessions.events.list(session.id))
    spans = [e for e in listed if e.type.startswith("span.")]
    assert len([s for s in spans if s.type == "span.model_request_start"]) == len(
        [s for s in spans if s.type == "span.model_request_end"]
    )
    cut = [s for s in spans if s.type == "span.model_request_end"][0]
    assert cut.is_error is True
    assert [e.content[0].text for e in listed if e.type == "agent.message"] == ["quick"]


def test_interrupt_while_blocked_closes_pending_calls(client: anthropic.Anthropic) -> None:
    session, events = blocked_session(client, ASK_BASH, BASH)
    use = next(e for e in events if e.type == "agent.tool_use")
    client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
    deadline = time.monotonic() + 20
    while True:
        listed = list(client.beta.sessions.events.list(session.id))
        if [e.type for e in listed].count("session.status_idle") == 2:
            break
        assert time.monotonic() < deadline, [e.type for e in listed]
        time.sleep(0.05)
    result = next(e for e in listed if e.type == "agent.tool_result")
    assert result.tool_use_id == use.id and result.is_error
    assert listed[-1].stop_reason.type == "end_turn"
    assert [e.type for e in listed].count("span.model_request_start") == 1, "no model call after the interrupt"


def test_interrupt_on_idle_session_does_nothing(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
    deadline = time.monotonic() + 20
    while True:
        listed = list(client.beta.sessions.events.list(session.id))
        if listed and listed[0].processed_at is not None:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [e.type for e in listed] == ["user.interrupt"]
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def envelope_400(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_bad_answers_are_rejected_and_change_nothing(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session, events = blocked_session(client, ASK_BASH, BASH)
    use = next(e for e in events if e.type == "agent.tool_use")
    other, other_events = blocked_session(client, [WEATHER], '[[tool:get_weather {"city": "Oslo"}]]')
    custom = next(e for e in other_events if e.type == "agent.custom_tool_use")
    message_id = events[0].id
    before = [e.id for e in client.beta.sessions.events.list(session.id)]
    bad: list[dict[str, Any]] = [
        {"type": "user.tool_confirmation", "tool_use_id": "sevt_unknown", "result": "allow"},
        {"type": "user.tool_confirmation", "tool_use_id": custom.id, "result": "allow"},
        {"type": "user.tool_confirmation", "tool_use_id": message_id, "result": "allow"},
        {"type": "user.custom_tool_result", "custom_tool_use_id": use.id},
        {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "maybe"},
        {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow", "deny_message": "x"},
        {"type": "user.custom_tool_result", "custom_tool_use_id": custom.id, "content": "not a list"},
    ]
    for event in bad:
        envelope_400(http.post(f"/v1/sessions/{session.id}/events", json={"events": [event]}))
    twice = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}
    envelope_400(http.post(f"/v1/sessions/{session.id}/events", json={"events": [twice, twice]}))
    assert [e.id for e in client.beta.sessions.events.list(session.id)] == before
    assert client.beta.sessions.retrieve(session.id).status == "idle"
    client.beta.sessions.events.send(session.id, events=[twice])
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.events.send(session.id, events=[twice])
    assert wait_for_idle_events(client, session.id, 1)[-1].stop_reason.type == "end_turn"


def test_session_local_tool_update_while_idle(client: anthropic.Anthropic) -> None:
    agent = make_agent(client, tools=[{"type": "agent_toolset_20260401"}])
    session = make_session(client, agent=agent.id)
    with client.beta.sessions.events.stream(session.id) as stream:
        updated = client.beta.sessions.update(session.id, agent={"tools": ASK_BASH})
        event = next(iter(stream))
    assert updated.agent.tools[0].configs[0].permission_policy.type == "always_ask"
    assert event.type == "session.updated" and event.agent is not None and event.title is None
    assert event.agent.tools[0].configs[0].name == "bash"
    assert client.beta.agents.retrieve(agent.id).tools[0].configs == []
    client.beta.sessions.events.send(session.id, events=[user_message(BASH)])
    listed = wait_for_status_idle_requires_action(client, session.id)
    assert next(e for e in listed if e.type == "agent.tool_use").evaluated_permission == "ask"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(session.id, agent={"tools": [{"type": "bogus"}]})


def wait_for_status_idle_requires_action(client: anthropic.Anthropic, session_id: str) -> list[Any]:
    deadline = time.monotonic() + 20
    while True:
        listed = list(client.beta.sessions.events.list(session_id))
        if listed and listed[-1].type == "session.status_idle":
            return listed
        assert time.monotonic() < deadline
        time.sleep(0.05)
