"""No accepted event is ever stranded: deliveries lost between the commit and the signal are made good later.

A lost delivery is simulated in the API's own process by making the signal-with-start fail the way a dying process
or an unreachable Temporal makes it fail; the real Temporal dev server is stopped and restarted for the outage case.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from api import session_control
from tests.api.test_human_control import WEATHER, blocked_session
from tests.conftest import new_database
from tests.durability.test_operator_actions import assert_coherent, replies, wait_running
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.processes import DmaProcess
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir


class ApiDied(Exception):
    """What the request sees when its process dies right after the commit (it never gets to signal)."""


Deliver = Callable[..., Any]


def lose_first_delivery(monkeypatch: pytest.MonkeyPatch, how: str = "die") -> list[str]:
    """The next delivery fails (``die``: an exception escapes; ``unreachable``: Temporal does not answer).

    Returns the session ids whose delivery was lost. Later deliveries (the reconciler's included) go through.
    """
    real: Deliver = session_control.deliver
    lost: list[str] = []

    async def flaky(temporal: Any, settings: Any, session: Any, delivery: Any) -> bool:
        if not lost:
            lost.append(session.id)
            if how == "die":
                raise ApiDied(session.id)
            return False
        return bool(await real(temporal, settings, session, delivery))

    monkeypatch.setattr(session_control, "deliver", flaky)
    return lost


@pytest.fixture
def raw(stack: Stack) -> Iterator[httpx.Client]:
    """No retries: a request the API died in must not be sent again by the client."""
    with httpx.Client(base_url=stack.base_url, headers={"x-api-key": API_KEY}, timeout=30) as http:
        yield http


def test_a_message_sent_while_a_run_ends_is_answered(client: anthropic.Anthropic) -> None:
    """The stack's runs continue as new after two turns: "three" comes while the run's last model request streams.

    The task that continues as new then fails (a signal came in) and runs again with "three" taken into the second
    turn; its model step replays what it recorded and hands "three" back. Before, "three" stayed queued for good.
    """
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[user_message("one")])
    wait_for_idle_events(client, session.id, 1)
    client.beta.sessions.events.send(session.id, events=[user_message("[[slow:1]] two")])
    wait_running(client, session.id, requests=2)
    client.beta.sessions.events.send(session.id, events=[user_message("three")])
    events = wait_for_idle_events(client, session.id, 3)
    assert replies(events) == ["You said: one", "You said: two", "You said: three"]
    assert_coherent(events)


def test_api_dying_between_commit_and_signal_strands_nothing(
    client: anthropic.Anthropic, raw: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(client)
    lost = lose_first_delivery(monkeypatch)
    response = raw.post(f"/v1/sessions/{session.id}/events", json={"events": [user_message("still there?")]})
    assert response.status_code == 500 and lost == [session.id]
    queued = list(client.beta.sessions.events.list(session.id))
    assert [(e.type, e.processed_at) for e in queued] == [("user.message", None)]
    events = wait_for_idle_events(client, session.id, 1, timeout=30)  # the API's reconciler delivers it
    messages = [e for e in events if e.type == "agent.message"]
    assert len(messages) == 1 and "still there?" in messages[0].content[0].text
    assert events[0].id == queued[0].id and events[0].processed_at is not None


def test_the_next_delivery_carries_a_lost_one(client: anthropic.Anthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session(client)
    lose_first_delivery(monkeypatch, how="unreachable")
    first = client.beta.sessions.events.send(session.id, events=[user_message("one")])
    assert first.data[0].processed_at is None
    client.beta.sessions.events.send(session.id, events=[user_message("two")])
    events = wait_for_idle_events(client, session.id, 1)
    users = [e for e in events if e.type == "user.message"]
    # One turn took both: the second delivery carried the first message (the reconciler would give it its own turn).
    assert [u.id for u in users] == [first.data[0].id, users[1].id]
    assert users[0].processed_at == users[1].processed_at
    assert [e.type for e in events].count("span.model_request_start") == 1


def test_a_lost_custom_tool_result_is_redelivered(client: anthropic.Anthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    session, events = blocked_session(client, [WEATHER], '[[tool:get_weather {"city": "Oslo"}]]')
    use = next(e for e in events if e.type == "agent.custom_tool_use")
    lose_first_delivery(monkeypatch, how="unreachable")
    answer = {
        "type": "user.custom_tool_result",
        "custom_tool_use_id": use.id,
        "content": [{"type": "text", "text": "snow"}],
    }
    sent = client.beta.sessions.events.send(session.id, events=[answer])
    assert sent.data[0].processed_at is not None  # processed on receipt, so only the reconciler's marker finds it
    events = wait_for_idle_events(client, session.id, 1, timeout=30)
    assert events[-1].stop_reason.type == "end_turn"
    assert "snow" in [e for e in events if e.type == "agent.message"][-1].content[0].text


def test_a_lost_confirmation_is_redelivered(client: anthropic.Anthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
    session, events = blocked_session(client, tools, '[[tool:bash {"command": "echo redelivered"}]]')
    use = next(e for e in events if e.type == "agent.tool_use")
    lose_first_delivery(monkeypatch, how="unreachable")
    confirmation = {"type": "user.tool_confirmation", "tool_use_id": use.id, "result": "allow"}
    assert client.beta.sessions.events.send(session.id, events=[confirmation]).data[0].processed_at is None
    events = wait_for_idle_events(client, session.id, 1, timeout=30)
    result = next(e for e in events if e.type == "agent.tool_result")
    assert result.tool_use_id == use.id and "redelivered" in result.content[0].text


def test_a_worker_starting_delivers_what_was_lost(
    backend: str,
    temporal_server: TemporalDevServer,
    model_server: FakeModelServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = traversable_dir("dma-redeliver-")
    url, drop = new_database(backend, directory)  # its own: no other reconciler of the suite sees this session
    # This API's own reconciler looks only at its start, so only the worker's can deliver the lost message.
    overrides = {"redelivery_seconds": 3600}
    api = Stack(url, temporal_server.address, model_server.url, directory, with_worker=False, api_overrides=overrides)
    api.start()
    worker = DmaProcess(["worker"], {**api.worker_env(), "DMA_REDELIVERY_SECONDS": "0.5"}, tmp_path / "worker.log")
    try:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, _strict_response_validation=True)
        session = make_session(client)
        lose_first_delivery(monkeypatch, how="unreachable")
        sent = client.beta.sessions.events.send(session.id, events=[user_message("worker, pick me up")])
        assert sent.data[0].processed_at is None
        time.sleep(1.0)
        assert [e.processed_at for e in client.beta.sessions.events.list(session.id)] == [None]
        worker.start()
        events = wait_for_idle_events(client, session.id, 1, timeout=60)
    finally:
        worker.stop()
        api.stop()
        drop()
        shutil.rmtree(directory, ignore_errors=True)
    assert "worker, pick me up" in next(e for e in events if e.type == "agent.message").content[0].text


def test_temporal_down_during_a_post_then_back(backend: str, model_server: FakeModelServer, tmp_path: Path) -> None:
    temporal = TemporalDevServer(tmp_path)  # our own: the suite's server must stay up
    temporal.start()
    directory = traversable_dir("dma-temporal-down-")
    url, drop = new_database(backend, directory)
    stack = Stack(url, temporal.address, model_server.url, directory, api_overrides={"redelivery_seconds": 1.0})
    stack.start()
    try:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=stack.base_url, max_retries=0)
        session = make_session(client, agent=make_agent(client).id)
        temporal.stop()
        started = time.monotonic()
        sent = client.beta.sessions.events.send(session.id, events=[user_message("after the outage")])
        answered_in = time.monotonic() - started
        # Accepted and queued, answered at once (before: a 503 after the client's ~10 s of retries).
        assert sent.data[0].processed_at is None and answered_in < 5, answered_in
        time.sleep(2.0)  # a few reconciler passes meet the outage
        temporal.start()
        events = wait_for_idle_events(client, session.id, 1, timeout=90)
    finally:
        stack.stop()
        temporal.stop()
        drop()
        shutil.rmtree(directory, ignore_errors=True)
    assert "after the outage" in next(e for e in events if e.type == "agent.message").content[0].text
    assert len({e.id for e in events}) == len(events)
