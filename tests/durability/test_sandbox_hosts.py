"""Sandbox hosts that die: a worker killed mid-tool, and a host gone between two tool calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.processes import DmaProcess
from tests.stack import API_KEY, Stack

TOOLSET = [{"type": "agent_toolset_20260401"}]


@pytest.fixture
def workers(api_only: Stack, tmp_path: Path) -> Iterator[list[DmaProcess]]:
    started: list[DmaProcess] = []
    yield started
    for worker in started:
        worker.kill()


def start_worker(api_only: Stack, tmp_path: Path, workers: list[DmaProcess]) -> DmaProcess:
    worker = DmaProcess(["worker"], api_only.worker_env(), tmp_path / f"worker{len(workers)}.log").start()
    workers.append(worker)
    return worker


def wait_for(client: anthropic.Anthropic, session_id: str, kind: str, count: int = 1) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        if [e.type for e in events].count(kind) >= count:
            return events
        assert time.monotonic() < deadline, f"no {kind}: {[e.type for e in events]}"
        time.sleep(0.05)


def check_log(events: list[Any], outcome: str) -> None:
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), "an event id appears twice"
    uses = [e.id for e in events if e.type == "agent.tool_use"]
    results = [e.tool_use_id for e in events if e.type == "agent.tool_result"]
    assert sorted(results) == sorted(uses), "every tool use has exactly one result"
    resets = [e for e in events if e.type == "session.error"]
    assert len(resets) == 1 and f"workspace was {outcome}" in resets[0].error.message
    assert resets[0].error.retry_status.type == "retrying"


def test_worker_killed_mid_tool(api_only: Stack, tmp_path: Path, workers: list[DmaProcess]) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_only.base_url, _strict_response_validation=True)
    first = start_worker(api_only, tmp_path, workers)
    session = make_session(client, agent=make_agent(client, tools=TOOLSET).id)
    command = '[[tool:bash {"command": "sleep 4; echo done"}]]'
    client.beta.sessions.events.send(session.id, events=[user_message(command)])
    wait_for(client, session.id, "agent.tool_use")
    start_worker(api_only, tmp_path, workers)
    time.sleep(1.0)  # the command is running in the first worker's sandbox
    first.kill()
    events = wait_for_idle_events(client, session.id, 1, timeout=90)
    check_log(events, "reset")
    result = next(e for e in events if e.type == "agent.tool_result")
    assert not result.is_error and result.content[0].text.strip() == "done"
    assert events[-1].stop_reason.type == "end_turn"


def test_host_gone_between_tool_calls(api_only: Stack, tmp_path: Path, workers: list[DmaProcess]) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_only.base_url, _strict_response_validation=True)
    first = start_worker(api_only, tmp_path, workers)
    session = make_session(client, agent=make_agent(client, tools=TOOLSET).id)
    client.beta.sessions.events.send(session.id, events=[user_message('[[tool:bash {"command": "touch mark"}]]')])
    wait_for_idle_events(client, session.id, 1, timeout=60)
    start_worker(api_only, tmp_path, workers)
    first.kill()
    client.beta.sessions.events.send(session.id, events=[user_message('[[tool:bash {"command": "ls; echo ok"}]]')])
    events = wait_for_idle_events(client, session.id, 2, timeout=90)
    # Both workers share this machine's data dir, so the new sandbox finds the files and the log says so.
    check_log(events, "restored")
    last = [e for e in events if e.type == "agent.tool_result"][-1]
    assert last.content[0].text.split() == ["mark", "ok"]
