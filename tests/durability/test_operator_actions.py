"""An operator terminates or resets a session's workflow in the Temporal UI: the session carries on correctly.

A fresh run counts steps from zero again. Before event ids carried the workflow run, the new run's ids collided with
the old run's: ``append`` skipped them, the model step found the old run's ``span.model_request_end`` and replayed
a stale reply, and a new message could stay queued forever.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import anthropic
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from dma.temporal import connect_client
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.stack import Stack


def _temporal(stack: Stack, action: Any) -> Any:
    async def go() -> Any:
        client = await connect_client(stack.temporal_address, "default")
        return await action(client)

    return asyncio.run(go())


def terminate(stack: Stack, session_id: str) -> None:
    async def action(client: Client) -> None:
        await client.get_workflow_handle(session_id).terminate("operator terminates from the Web UI")

    _temporal(stack, action)


def reset(stack: Stack, session_id: str, to: str) -> None:
    """Reset like the Web UI: to the first or the last completed workflow task."""

    async def action(client: Client) -> None:
        handle = client.get_workflow_handle(session_id)
        # The log says a turn ended as its step commits, inside a workflow task that completes a moment later: the
        # operator sees the history once that task is done.
        deadline = time.monotonic() + 20
        while (await handle.describe()).raw_description.HasField("pending_workflow_task"):
            assert time.monotonic() < deadline, "the workflow task never completed"
            await asyncio.sleep(0.05)
        history = await handle.fetch_history()
        completed = [e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
        request = ResetWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=session_id),
            reason="operator resets from the Web UI",
            workflow_task_finish_event_id=completed[0] if to == "first" else completed[-1],
            request_id=str(uuid.uuid4()),
        )
        await client.workflow_service.reset_workflow_execution(request)

    _temporal(stack, action)


def replies(events: list[Any]) -> list[str]:
    return ["".join(b.text for b in e.content) for e in events if e.type == "agent.message"]


def assert_coherent(events: list[Any]) -> None:
    ids = Counter(e.id for e in events)
    assert not [i for i, n in ids.items() if n > 1], "duplicate event ids"
    starts = {e.id for e in events if e.type == "span.model_request_start"}
    ended = {e.model_request_start_id for e in events if e.type == "span.model_request_end"}
    assert starts <= ended, "every span that started has ended"
    uses = {e.id for e in events if e.type == "agent.tool_use"}
    answered = {e.tool_use_id for e in events if e.type == "agent.tool_result"}
    assert uses <= answered, "every tool use has a result"


def wait_running(client: anthropic.Anthropic, session_id: str, requests: int = 1) -> None:
    """Until the session's ``requests``-th model request has started."""
    deadline = time.monotonic() + 20
    while sum(e.type == "span.model_request_start" for e in client.beta.sessions.events.list(session_id)) < requests:
        assert time.monotonic() < deadline, "the turn never started"
        time.sleep(0.05)


def test_terminate_after_a_turn_then_a_message_gets_its_reply(client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[user_message("one")])
    wait_for_idle_events(client, session.id, 1)
    terminate(stack, session.id)
    client.beta.sessions.events.send(session.id, events=[user_message("two")])
    events = wait_for_idle_events(client, session.id, 2)
    assert replies(events) == ["You said: one", "You said: two"]
    assert_coherent(events)
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_terminate_while_a_turn_runs_then_a_message_gets_its_reply(client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[user_message("[[slow:6]] a long one")])
    wait_running(client, session.id)
    terminate(stack, session.id)
    client.beta.sessions.events.send(session.id, events=[user_message("two")])
    events = wait_for_idle_events(client, session.id, 2, timeout=40)
    # The cut-off message stays unanswered in the conversation, like an interrupted one, so the model sees both.
    assert replies(events)[-1].endswith("two")
    errors = [e for e in events if e.type == "session.error"]
    assert errors and "restarted" in errors[0].error.message, "the cut-off turn says why it ended"
    assert_coherent(events)
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_reset_after_a_turn_then_a_message_gets_its_reply(client: anthropic.Anthropic, stack: Stack) -> None:
    for to in ("first", "last"):
        session = make_session(client)
        client.beta.sessions.events.send(session.id, events=[user_message("one")])
        wait_for_idle_events(client, session.id, 1)
        reset(stack, session.id, to)
        client.beta.sessions.events.send(session.id, events=[user_message("two")])
        events = wait_for_idle_events(client, session.id, 2)
        time.sleep(0.5)  # a reset that re-ran the first turn would have answered "one" again by now
        events = list(client.beta.sessions.events.list(session.id))
        assert replies(events) == ["You said: one", "You said: two"], to
        assert_coherent(events)


def test_reset_while_a_turn_runs_then_a_message_gets_its_reply(client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    # A run's first workflow task completes only after its first model step (a local activity): a turn before the
    # long one gives the operator a task to reset to, as any session with a past has.
    client.beta.sessions.events.send(session.id, events=[user_message("one")])
    wait_for_idle_events(client, session.id, 1)
    client.beta.sessions.events.send(session.id, events=[user_message("[[slow:6]] a long one")])
    wait_running(client, session.id, requests=2)
    reset(stack, session.id, "first")
    client.beta.sessions.events.send(session.id, events=[user_message("two")])
    events = wait_for_idle_events(client, session.id, 3, timeout=40)
    assert replies(events)[-1].endswith("two")
    assert_coherent(events)
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_terminate_while_blocked_then_the_answer_resumes_the_turn(client: anthropic.Anthropic, stack: Stack) -> None:
    ask = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
    session = make_session(client, agent=make_agent(client, tools=ask).id)
    client.beta.sessions.events.send(session.id, events=[user_message('[[tool:bash {"command": "echo resumed"}]]')])
    events = _until_requires_action(client, session.id)
    use = next(e for e in events if e.type == "agent.tool_use")
    terminate(stack, session.id)
    confirm: Any = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}
    client.beta.sessions.events.send(session.id, events=[confirm])
    events = wait_for_idle_events(client, session.id, 1, timeout=60)
    result = next(e for e in events if e.type == "agent.tool_result")
    assert "".join(b.text for b in result.content).strip() == "resumed"
    assert replies(events)[-1].startswith("Tool bash returned: resumed")
    assert_coherent(events)


def _until_requires_action(client: anthropic.Anthropic, session_id: str) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        if events and events[-1].type == "session.status_idle" and events[-1].stop_reason.type == "requires_action":
            return events
        assert time.monotonic() < deadline, "the turn never asked"
        time.sleep(0.05)
