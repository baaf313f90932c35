"""Crash recovery: a worker SIGKILLed mid model call, and the API restarted under a streaming client."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anthropic

from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session, until_idle, user_message, wait_for_idle_events
from tests.processes import DmaProcess
from tests.stack import API_KEY, Stack, free_port


def requests_for(model_server: FakeModelServer, token: str) -> int:
    return sum(1 for r in model_server.requests if token in str(r.body.get("messages")))


def test_worker_killed_mid_model_call(api_only: Stack, model_server: FakeModelServer, tmp_path: Path) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_only.base_url, _strict_response_validation=True)
    first = DmaProcess(["worker"], api_only.worker_env(), tmp_path / "worker1.log").start()
    second = DmaProcess(["worker"], api_only.worker_env(), tmp_path / "worker2.log")
    try:
        session = make_session(client)
        token = uuid.uuid4().hex
        client.beta.sessions.events.send(session.id, events=[user_message(f"[[slow:3]] {token}")])
        deadline = time.monotonic() + 30
        while not any(r.first_byte_at for r in model_server.requests if token in str(r.body.get("messages"))):
            assert time.monotonic() < deadline, "the first worker's model reply never started streaming"
            time.sleep(0.05)
        first.kill()
        second.start()
        events = wait_for_idle_events(client, session.id, 1, timeout=60)
    finally:
        first.kill()
        second.stop()
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), "an event id appears twice"
    messages = [e for e in events if e.type == "agent.message"]
    assert len(messages) == 1 and token in messages[0].content[0].text
    assert requests_for(model_server, token) == 2, "the second worker should have called the model once more"
    starts = [e for e in events if e.type == "span.model_request_start"]
    ends = [e for e in events if e.type == "span.model_request_end"]
    assert len(starts) == len(ends) == 2
    assert sorted(e.model_request_start_id for e in ends) == sorted(e.id for e in starts)
    assert [e.type for e in events][-2:] == ["session.usage", "session.status_idle"]


def test_api_restarted_while_streaming(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    env = {**stack.worker_env(), "DMA_API_KEYS": API_KEY, "DMA_PORT": str(port), "DMA_HOST": "127.0.0.1"}
    api = DmaProcess(["api"], env, tmp_path / "api1.log").start(wait_port=port)
    client = anthropic.Anthropic(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0)
    seen: list[str] = []
    try:
        session = make_session(client)
        with client.beta.sessions.events.stream(session.id) as stream:
            client.beta.sessions.events.send(session.id, events=[user_message("[[slow:2]] [[long:30]] restart me")])
            try:
                for event in stream:
                    seen.append(event.id)
                    if event.type == "span.model_request_start":
                        api.kill()  # mid-turn, with this stream still open
            except Exception:  # noqa: BLE001 - the connection dies with the server; how it dies does not matter
                pass
        assert seen and api.process is not None and api.process.poll() is not None
        api = DmaProcess(["api"], env, tmp_path / "api2.log").start(wait_port=port)
        with client.beta.sessions.events.stream(session.id, extra_headers={"Last-Event-ID": seen[-1]}) as stream:
            seen.extend(event.id for event in until_idle(stream))
        listed = [e.id for e in client.beta.sessions.events.list(session.id)]
    finally:
        api.stop()
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert seen == listed, "the reconnected stream missed or reordered events"


def test_confirmation_accepted_while_every_worker_is_down(api_only: Stack, tmp_path: Path) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_only.base_url, _strict_response_validation=True)
    tools = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
    agent = client.beta.agents.create(model="claude-sonnet-4-6", name="ask", tools=tools)  # type: ignore[list-item]
    worker = DmaProcess(["worker"], api_only.worker_env(), tmp_path / "worker1.log").start()
    later = DmaProcess(["worker"], api_only.worker_env(), tmp_path / "worker2.log")
    try:
        session = make_session(client, agent=agent.id)
        client.beta.sessions.events.send(session.id, events=[user_message('[[tool:bash {"command": "ls"}]]')])
        deadline = time.monotonic() + 90  # the first worker's start-up is in it; a loaded CI machine is slow
        while True:
            events = list(client.beta.sessions.events.list(session.id))
            if events and events[-1].type == "session.status_idle":
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        use = next(e for e in events if e.type == "agent.tool_use")
        worker.kill()
        sent = client.beta.sessions.events.send(
            session.id, events=[{"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}]
        )
        assert sent.data[0].processed_at is None
        time.sleep(1.0)
        assert client.beta.sessions.retrieve(session.id).status == "idle"
        later.start()
        events = wait_for_idle_events(client, session.id, 1, timeout=60)
    finally:
        worker.kill()
        later.stop()
    assert next(e for e in events if e.type == "agent.tool_result").tool_use_id == use.id
    assert events[-1].stop_reason.type == "end_turn"
    assert len({e.id for e in events}) == len(events)
