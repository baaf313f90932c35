"""The turn loop: retries, exhausted retries, tool calls without an executor, thinking, the scripted model, and the
workflow's continue-as-new and search attributes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from temporalio.client import Client

from activities.model.scripted_wire import ScriptedReply
from dma.temporal import connect_client
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.stack import Stack


def types_of(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def test_transient_errors_are_retried_and_shown(
    client: anthropic.Anthropic, model_server: FakeModelServer, scenario_model: str
) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    model_server.enqueue(ScriptedReply(error_status=529, retry_after=0), ScriptedReply(text="recovered"))
    client.beta.sessions.events.send(session.id, events=[user_message("hello")])
    events = wait_for_idle_events(client, session.id, 1)
    assert types_of(events) == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "span.model_request_end",
        "session.error",
        "session.status_rescheduled",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.usage",
        "session.status_idle",
    ]
    error = events[4].error
    assert error.type == "model_overloaded_error" and error.retry_status.type == "retrying"
    assert events[3].is_error is True and events[9].is_error is False
    assert events[8].content[0].text == "recovered"
    assert events[-1].stop_reason.type == "end_turn"


def test_exhausted_retries_end_the_turn(
    client: anthropic.Anthropic, model_server: FakeModelServer, scenario_model: str
) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    client.beta.sessions.events.send(session.id, events=[user_message("[[error:529]] always overloaded")])
    events = wait_for_idle_events(client, session.id, 1)
    errors = [e.error for e in events if e.type == "session.error"]
    assert [e.retry_status.type for e in errors] == ["retrying", "retrying", "exhausted"]
    assert errors[-1].type == "model_overloaded_error"
    assert types_of(events)[-2:] == ["session.usage", "session.status_idle"]
    assert events[-1].stop_reason.type == "retries_exhausted"
    assert types_of(events).count("span.model_request_start") == types_of(events).count("span.model_request_end") == 3
    assert client.beta.sessions.retrieve(session.id).status == "idle"
    model_server.enqueue(ScriptedReply(text="back again"))
    client.beta.sessions.events.send(session.id, events=[user_message("still there?")])
    assert wait_for_idle_events(client, session.id, 2)[-1].stop_reason.type == "end_turn"


def test_non_retryable_error_fails_at_once(client: anthropic.Anthropic, scenario_model: str) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    client.beta.sessions.events.send(session.id, events=[user_message("[[error:400]] bad request")])
    events = wait_for_idle_events(client, session.id, 1)
    errors = [e.error for e in events if e.type == "session.error"]
    assert [(e.type, e.retry_status.type) for e in errors] == [("model_request_failed_error", "exhausted")]
    assert events[-1].stop_reason.type == "retries_exhausted"


def test_tool_call_runs_in_the_sandbox_and_the_loop_completes(client: anthropic.Anthropic, scenario_model: str) -> None:
    agent = make_agent(client, model=scenario_model, tools=[{"type": "agent_toolset_20260401"}])
    session = make_session(client, agent=agent.id)
    client.beta.sessions.events.send(session.id, events=[user_message('[[tool:bash {"command": "echo hi"}]]')])
    events = wait_for_idle_events(client, session.id, 1)
    kinds = types_of(events)
    use = events[kinds.index("agent.tool_use")]
    result = events[kinds.index("agent.tool_result")]
    assert use.name == "bash" and use.input == {"command": "echo hi"}
    assert result.tool_use_id == use.id and result.is_error is False, result.content[0].text
    assert result.content[0].text.strip() == "hi"
    assert kinds.count("span.model_request_start") == 2
    assert events[-1].stop_reason.type == "end_turn"
    final = [e for e in events if e.type == "agent.message"][-1]
    assert "Tool bash returned: hi" in final.content[0].text


def test_thinking_is_signalled_and_kept_in_context(
    client: anthropic.Anthropic, model_server: FakeModelServer, scenario_model: str
) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    client.beta.sessions.events.send(session.id, events=[user_message("[[think]] ponder")])
    first = wait_for_idle_events(client, session.id, 1)
    assert types_of(first)[3:5] == ["agent.thinking", "agent.message"]
    client.beta.sessions.events.send(session.id, events=[user_message("next")])
    wait_for_idle_events(client, session.id, 2)
    last = [r.body for r in model_server.requests if "next" in str(r.body.get("messages") or r.body.get("input"))][-1]
    if scenario_model == "claude-sonnet-4-6":
        assistant = last["messages"][1]["content"]
        assert assistant[0]["type"] == "thinking" and assistant[0]["signature"]
        return
    # Chat Completions and Responses take no reasoning back: the answer follows the question, reasoning left out.
    history = last.get("messages") or last["input"]
    assert [item.get("role") for item in history] == ["user", "assistant", "user"]
    assert "You said: ponder" in str(history[1]) and "The user wrote" not in str(last)


def test_builtin_scripted_model_needs_no_provider(client: anthropic.Anthropic, model_server: FakeModelServer) -> None:
    before = len(model_server.requests)
    session = make_session(client, agent=make_agent(client, model="scripted").id)
    client.beta.sessions.events.send(session.id, events=[user_message("offline")])
    events = wait_for_idle_events(client, session.id, 1)
    assert [e for e in events if e.type == "agent.message"][0].content[0].text == "You said: offline"
    assert len(model_server.requests) == before


async def _workflow_facts(stack: Stack, session_id: str, agent_id: str) -> tuple[int, list[str]]:
    temporal: Client = await connect_client(stack.temporal_address, "default")
    history = await temporal.get_workflow_handle(session_id).fetch_history()
    runs = 1 + sum(
        1 for event in history.events if event.HasField("workflow_execution_continued_as_new_event_attributes")
    )
    found: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        query = f"AgentId = '{agent_id}' AND SessionStatus = 'idle'"
        found = [wf.id async for wf in temporal.list_workflows(query)]
        if session_id in found:
            break
        await asyncio.sleep(0.2)
    return runs, found


def test_continue_as_new_and_search_attributes(client: anthropic.Anthropic, stack: Stack) -> None:
    agent = make_agent(client)
    session = make_session(client, agent=agent.id)
    for turn in range(5):
        client.beta.sessions.events.send(session.id, events=[user_message(f"turn {turn}")])
        wait_for_idle_events(client, session.id, turn + 1)
    events = list(client.beta.sessions.events.list(session.id))
    assert len({e.id for e in events}) == len(events)
    texts = [e.content[0].text for e in events if e.type == "agent.message"]
    assert texts == [f"You said: turn {n}" for n in range(5)]
    first_history_runs, found = asyncio.run(_workflow_facts(stack, session.id, agent.id))
    assert session.id in found
    assert first_history_runs == 1  # the first run ended by continuing as new after its 2 turns
    describe = asyncio.run(_describe(stack, session.id))
    assert describe["first_run"] != describe["run"], "the session should be on a later run after continue-as-new"


async def _describe(stack: Stack, session_id: str) -> dict[str, str]:
    temporal = await connect_client(stack.temporal_address, "default")
    description = await temporal.get_workflow_handle(session_id).describe()
    return {"run": description.run_id, "first_run": description.raw_description.workflow_execution_info.first_run_id}
