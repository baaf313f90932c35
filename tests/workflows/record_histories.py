"""Records workflow histories of representative sessions into ``histories/`` for the replay test.

Run it (``PYTHONPATH=. .venv/bin/python tests/workflows/record_histories.py``) only when a workflow change is meant
to be incompatible *and* old histories no longer matter; otherwise guard the change with ``workflow.patched`` and
keep the old histories, which is the point of the replay test. ``--wakeups-only`` records just the wakeup scenario
(added with wakeups, which left the older histories replayable).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx

from dma.store import migrate
from dma.temporal import connect_client
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

HERE = Path(__file__).parent / "histories"
ASK = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
TOOLSET = [{"type": "agent_toolset_20260401"}]


def scenario_sessions(client: anthropic.Anthropic) -> dict[str, str]:
    sessions: dict[str, str] = {}
    plain = make_session(client)
    for text in ("one", "two", "three"):
        client.beta.sessions.events.send(plain.id, events=[user_message(text)])
        wait_for_idle_events(client, plain.id, ["one", "two", "three"].index(text) + 1)
    sessions["plain_turns_and_continue_as_new"] = plain.id
    tools = make_session(client, agent=make_agent(client, tools=TOOLSET).id)
    client.beta.sessions.events.send(tools.id, events=[user_message('[[tool:bash {"command": "echo hi"}]]')])
    wait_for_idle_events(client, tools.id, 1)
    sessions["tool_turn"] = tools.id
    ask = make_session(client, agent=make_agent(client, tools=ASK).id)
    client.beta.sessions.events.send(ask.id, events=[user_message('[[tool:bash {"command": "ls"}]]')])
    use = _wait_for_use(client, ask.id)
    confirm: Any = {"type": "user.tool_confirmation", "tool_use_id": use, "result": "deny", "deny_message": "no"}
    client.beta.sessions.events.send(ask.id, events=[confirm])
    wait_for_idle_events(client, ask.id, 1)
    sessions["confirmation_denied"] = ask.id
    interrupted = make_session(client)
    client.beta.sessions.events.send(interrupted.id, events=[user_message("[[slow:5]] long")])
    time.sleep(1.5)
    client.beta.sessions.events.send(interrupted.id, events=[{"type": "user.interrupt"}])
    wait_for_idle_events(client, interrupted.id, 1)
    sessions["interrupt"] = interrupted.id
    failing = make_session(client)
    client.beta.sessions.events.send(failing.id, events=[user_message("[[error:400]] nope")])
    wait_for_idle_events(client, failing.id, 1)
    sessions["model_error"] = failing.id
    return sessions


def terminated_sessions(client: anthropic.Anthropic, stack: Stack) -> dict[str, str]:
    """Sessions whose workflow an operator terminated; their next run starts by reconciling the log."""
    restarted = make_session(client)
    client.beta.sessions.events.send(restarted.id, events=[user_message("one")])
    wait_for_idle_events(client, restarted.id, 1)
    asyncio.run(_terminate(stack, restarted.id))
    client.beta.sessions.events.send(restarted.id, events=[user_message("two")])
    wait_for_idle_events(client, restarted.id, 2)
    blocked = make_session(client, agent=make_agent(client, tools=ASK).id)
    client.beta.sessions.events.send(blocked.id, events=[user_message('[[tool:bash {"command": "ls"}]]')])
    use = _wait_for_use(client, blocked.id)
    asyncio.run(_terminate(stack, blocked.id))
    confirm: Any = {"type": "user.tool_confirmation", "tool_use_id": use, "result": "allow"}
    client.beta.sessions.events.send(blocked.id, events=[confirm])
    wait_for_idle_events(client, blocked.id, 1)
    return {"reconciled_after_terminate": restarted.id, "blocked_turn_resumed_after_terminate": blocked.id}


def wakeup_sessions(client: anthropic.Anthropic, stack: Stack) -> dict[str, str]:
    """A one-shot wakeup that fires while idle, and one cancelled before it fires; and a deployment's fire."""
    with httpx.Client(base_url=stack.base_url, headers={"x-api-key": API_KEY}, timeout=30) as http:
        woken = make_session(client)
        client.beta.sessions.events.send(woken.id, events=[user_message("one")])
        wait_for_idle_events(client, woken.id, 1)
        cancelled = http.post(f"/v1/sessions/{woken.id}/wakeups", json={"reason": "never", "in_seconds": 1}).json()
        http.post(f"/v1/sessions/{woken.id}/wakeups/{cancelled['id']}/cancel")
        http.post(f"/v1/sessions/{woken.id}/wakeups", json={"reason": "wake up", "in_seconds": 2})
        wait_for_idle_events(client, woken.id, 2)
    return {"one_shot_wakeup": woken.id}


async def _terminate(stack: Stack, session_id: str) -> None:
    temporal = await connect_client(stack.temporal_address, "default")
    await temporal.get_workflow_handle(session_id).terminate("recording a history")


def _wait_for_use(client: anthropic.Anthropic, session_id: str) -> str:
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        if events and events[-1].type == "session.status_idle":
            return next(e.id for e in events if e.type == "agent.tool_use")
        time.sleep(0.05)


async def dump(stack: Stack, sessions: dict[str, str]) -> None:
    temporal = await connect_client(stack.temporal_address, "default")
    for name, session_id in sessions.items():
        history = await temporal.get_workflow_handle(session_id).fetch_history()
        (HERE / f"{name}.json").write_text(history.to_json())


def main() -> None:
    directory = traversable_dir("dma-histories-")
    temporal = TemporalDevServer(directory)
    temporal.start()
    with FakeModelServer() as model:
        url = f"sqlite+aiosqlite:///{directory / 'dma.db'}"
        migrate.upgrade(url)
        overrides = {"continue_as_new_after_turns": 2, "model_max_attempts": 2, "wakeup_min_interval_seconds": 1}
        stack = Stack(
            url, temporal.address, model.url, directory, api_overrides=overrides, worker_overrides=overrides
        ).start()
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=stack.base_url)
            if sys.argv[1:] == ["--wakeups-only"]:
                sessions = wakeup_sessions(client, stack)
            else:
                sessions = (
                    scenario_sessions(client) | terminated_sessions(client, stack) | wakeup_sessions(client, stack)
                )
            asyncio.run(dump(stack, sessions))
        finally:
            stack.stop()
            temporal.stop()


if __name__ == "__main__":
    main()
