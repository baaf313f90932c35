"""The worker's secrets never leave it through a session, on both sandbox backends: canaries in the worker's
environment, its data dir and its database are absent from tool results, from every event row of the session and from
the model requests."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from sqlmodel import col, select

from dma.store.tables import SessionEvent
from tests.api.test_tools_e2e import TOOLSET, call, text_of
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.sandboxes import canaries as canary
from tests.stack import Stack


async def _event_rows(stack: Stack, session_id: str) -> list[SessionEvent]:
    assert stack.db is not None
    async with stack.db.read() as db:
        rows = await db.exec(select(SessionEvent).where(col(SessionEvent.session_id) == session_id))
        return list(rows.all())


def test_canaries_reach_no_tool_result_event_or_model_request(
    sandbox_stack: Stack,
    sandbox_client: anthropic.Anthropic,
    model_server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canaries = canary.plant(monkeypatch, sandbox_stack.data_dir)
    try:
        # In the database, never in this session's context.
        make_agent(sandbox_client, name=canaries.value("agent"), description=canaries.value("description"))
        session = make_session(sandbox_client, agent=make_agent(sandbox_client, tools=TOOLSET).id)
        secrets_file = str(sandbox_stack.data_dir / canary.CANARY_FILES[0])
        text = " ".join(
            [
                call("bash", {"command": canaries.probe(), "timeout_ms": 120000}),
                call("read", {"file_path": secrets_file}),
                call("grep", {"pattern": f"canar[y]-{canaries.tag}", "path": "/workspace"}),
            ]
        )
        sandbox_client.beta.sessions.events.send(session.id, events=[user_message(text)])
        events = wait_for_idle_events(sandbox_client, session.id, 1, timeout=180)
    finally:
        canary.remove(sandbox_stack.data_dir)
    names = {e.id: e.name for e in events if e.type == "agent.tool_use"}
    results: dict[str, Any] = {names[e.tool_use_id]: e for e in events if e.type == "agent.tool_result"}
    assert sorted(results) == ["bash", "grep", "read"]
    canaries.check_probe_output(text_of(results["bash"]))
    assert results["read"].is_error
    assert text_of(results["grep"]) == "No matches found"
    for event in events:
        canaries.assert_absent(event.model_dump_json())
    rows = sandbox_stack.run(_event_rows(sandbox_stack, session.id))
    assert len(rows) == len(events)
    for row in rows:
        canaries.assert_absent(json.dumps([row.body, row.extra], default=str))
    requests = [r.body for r in model_server.requests if canaries.tag in json.dumps(r.body)]
    assert len(requests) == 2, "the turn's first model call and the one with the tool results"
    assert "tool_result" in json.dumps(requests[-1])
    for body in requests:
        canaries.assert_absent(json.dumps(body))
