"""Records workflow histories of representative sessions into ``histories/`` for the replay test.

Run it (``PYTHONPATH=. .venv/bin/python tests/workflows/record_histories.py [--prefix P] [GROUP ...]``, groups:
scenario, terminated, models, mcp, wakeups) only when a workflow change is meant to be incompatible *and* old
histories no longer matter, or to add the histories of new behaviour (name its group); otherwise guard the change
with ``workflow.patched`` and keep the old histories, which is the point of the replay test. ``--prefix`` writes
``P.<name>.json`` beside the histories already kept: those of a patched path (``local_model_step.*`` ran
``workflows.session.LOCAL_MODEL_STEP``; the files without a prefix ran the model step as a task-queue activity).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx

from activities.model.scripted import plan_reply
from activities.model.scripted_wire import ScriptedReply
from dma.store import migrate
from dma.temporal import connect_client
from tests.api.mcp_helpers import bearer_vault, mcp_agent, mcp_call
from tests.fakes.mcp_server import FakeMcpServer
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


def model_sessions(client: anthropic.Anthropic, model: FakeModelServer) -> dict[str, str]:
    """A turn paused at its budget and resumed by a raise; a request that fails over to a fallback model."""
    weather = {"type": "custom", "name": "get_weather", "description": "w", "input_schema": {"type": "object"}}
    budget: Any = {"type": "limit", "max_list_cost": {"amount": "1", "currency": "USD"}}
    paused = make_session(client, agent=make_agent(client, model="local/pricey", tools=[weather]).id, budget=budget)
    ask = "[[tool:get_weather {}]] " + "a long question about the weather. " * 100
    client.beta.sessions.events.send(paused.id, events=[user_message(ask)])
    use = _wait_for_use(client, paused.id, "agent.custom_tool_use")
    answer: Any = {"type": "user.custom_tool_result", "custom_tool_use_id": use, "content": []}
    client.beta.sessions.events.send(paused.id, events=[answer])
    while "budget_reached" not in str(list(client.beta.sessions.events.list(paused.id))):
        time.sleep(0.05)
    client.beta.sessions.update(
        paused.id, budget={"type": "limit", "max_list_cost": {"amount": "500", "currency": "USD"}}
    )
    wait_for_idle_events(client, paused.id, 1)
    overloaded = ScriptedReply(error_status=529)
    model.set_default(lambda body: overloaded if body.get("model") == "claude-flaky" else plan_reply(body))
    failover = make_session(client, agent=make_agent(client, model="claude-flaky").id)
    client.beta.sessions.events.send(failover.id, events=[user_message("fail over")])
    wait_for_idle_events(client, failover.id, 1)
    model.set_default(plan_reply)
    return {"budget_paused_and_raised": paused.id, "failover_to_fallback": failover.id}


def mcp_sessions(client: anthropic.Anthropic, server: FakeMcpServer) -> dict[str, str]:
    """An MCP call allowed, one confirmed, one interrupted, and one whose server is down until retries run out."""
    vault, _ = bearer_vault(client, server)
    allowed = make_session(client, agent=mcp_agent(client, server).id, vault_ids=[vault.id])
    client.beta.sessions.events.send(allowed.id, events=[user_message(mcp_call("echo", {"text": "hi"}))])
    wait_for_idle_events(client, allowed.id, 1)
    asked = make_session(client, agent=mcp_agent(client, server, policy=None).id, vault_ids=[vault.id])
    client.beta.sessions.events.send(asked.id, events=[user_message(mcp_call("echo", {"text": "ask"}))])
    use = _wait_for_use(client, asked.id, "agent.mcp_tool_use")
    confirm: Any = {"type": "user.tool_confirmation", "tool_use_id": use, "result": "allow"}
    client.beta.sessions.events.send(asked.id, events=[confirm])
    wait_for_idle_events(client, asked.id, 1)
    slow = make_session(client, agent=mcp_agent(client, server).id, vault_ids=[vault.id])
    client.beta.sessions.events.send(slow.id, events=[user_message(mcp_call("slow", {"seconds": 30}))])
    while server.state.slow_started == 0:
        time.sleep(0.05)
    client.beta.sessions.events.send(slow.id, events=[{"type": "user.interrupt"}])
    wait_for_idle_events(client, slow.id, 1)
    down = make_session(client, agent=mcp_agent(client, server).id, vault_ids=[vault.id])
    client.beta.sessions.events.send(down.id, events=[user_message("list the tools")])
    wait_for_idle_events(client, down.id, 1)
    server.stop()
    client.beta.sessions.events.send(down.id, events=[user_message(mcp_call("echo", {"text": "down"}))])
    wait_for_idle_events(client, down.id, 2)
    server.start()
    return {
        "mcp_call": allowed.id,
        "mcp_call_confirmed": asked.id,
        "mcp_call_interrupted": slow.id,
        "mcp_server_down_retries_exhausted": down.id,
    }


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


def _wait_for_use(client: anthropic.Anthropic, session_id: str, kind: str = "agent.tool_use") -> str:
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        if events and events[-1].type == "session.status_idle":
            return next(e.id for e in events if e.type == kind)
        time.sleep(0.05)


async def dump(stack: Stack, sessions: dict[str, str], prefix: str = "") -> None:
    """Each session's longest run (a session that continued as new has several; the last may be empty)."""
    temporal = await connect_client(stack.temporal_address, "default")
    for name, session_id in sessions.items():
        await asyncio.sleep(1)  # let visibility catch up with the runs
        runs = [run.run_id async for run in temporal.list_workflows(f"WorkflowId = '{session_id}'")]
        histories = [await temporal.get_workflow_handle(session_id, run_id=run).fetch_history() for run in runs]
        longest = max(histories, key=lambda history: len(history.events))
        (HERE / f"{prefix + '.' if prefix else ''}{name}.json").write_text(longest.to_json())


def main(only: list[str], prefix: str = "") -> None:
    """Record every scenario, or only the groups named (``scenario``, ``terminated``, ``models``, ``mcp``)."""
    # Before the fake MCP server: the ``mcp`` SDK's server otherwise gives the root logger a rich handler, which
    # the workflow sandbox cannot import when workflow code logs (every workflow task then fails).
    logging.basicConfig(level=logging.WARNING)
    directory = traversable_dir("dma-histories-")
    temporal = TemporalDevServer(directory)
    temporal.start()
    with FakeModelServer() as model, FakeMcpServer() as mcp:
        url = f"sqlite+aiosqlite:///{directory / 'dma.db'}"
        migrate.upgrade(url)
        overrides = {
            "continue_as_new_after_turns": 2,
            "model_max_attempts": 2,
            "mcp_max_attempts": 2,
            "wakeup_min_interval_seconds": 1,
        }
        stack = Stack(
            url, temporal.address, model.url, directory, api_overrides=overrides, worker_overrides=overrides
        ).start()
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=stack.base_url)
            sessions: dict[str, str] = {}
            if not only or "scenario" in only:
                sessions |= scenario_sessions(client)
            if not only or "terminated" in only:
                sessions |= terminated_sessions(client, stack)
            if not only or "models" in only:
                sessions |= model_sessions(client, model)
            if not only or "mcp" in only:
                sessions |= mcp_sessions(client, mcp)
            if not only or "wakeups" in only:
                sessions |= wakeup_sessions(client, stack)
            asyncio.run(dump(stack, sessions, prefix))
        finally:
            stack.stop()
            temporal.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    named = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    main([arg for arg in args if arg not in ("--prefix", named)], named)
