"""How a ``user.interrupt`` reaches a running model request: over the bus at once, or with Temporal's cancellation.

The bus path lets model requests heartbeat rarely (``MODEL_HEARTBEAT_SECONDS``); each test takes one path away and
shows the other still ends the turn: with heartbeats out of reach the bus alone must do it, and with the bus's
interrupt dropped a heartbeat must bring the cancellation.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from activities.model import step as model_step
from activities.model.scripted_wire import ScriptedReply
from dma.bus import BusMessage
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, until_idle, user_message, wait_for_event
from tests.stack import Stack

# The slow reply streams for 40 s; a turn that ends well before that was cut off.
SLOW = ScriptedReply(text=" ".join(["word"] * 20), chunk_delay=2.0)
CUT_WITHIN_SECONDS = 10


def interrupt_a_slow_reply(client: anthropic.Anthropic, model_server: FakeModelServer) -> tuple[list[Any], float]:
    """Start a turn on the slow reply, interrupt it once its request is open; the turn's events and how long it took."""
    session = make_session(client, agent=make_agent(client).id)
    model_server.enqueue(SLOW)
    client.beta.sessions.events.send(session.id, events=[user_message("a long answer")])
    wait_for_event(client, session.id, "span.model_request_start")
    with client.beta.sessions.events.stream(session.id) as stream:
        started = time.monotonic()
        client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
        events = until_idle(stream)
    listed = list(client.beta.sessions.events.list(session.id))
    ends = [e for e in listed if e.type == "span.model_request_end"]
    assert len(ends) == 1 and ends[0].is_error, "the cut-off request's span ends as an error"
    assert not [e for e in listed if e.type == "agent.message"], "nothing of the cut-off reply is kept"
    return events, time.monotonic() - started


def test_the_bus_ends_a_model_request_that_never_heartbeats(
    client: anthropic.Anthropic, model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No heartbeat within the test: Temporal's cancellation cannot reach the request, only the bus can.
    monkeypatch.setattr(model_step, "MODEL_HEARTBEAT_SECONDS", 120.0)
    events, took = interrupt_a_slow_reply(client, model_server)
    assert events[-1].type == "session.status_idle" and events[-1].stop_reason.type == "end_turn"
    assert took < CUT_WITHIN_SECONDS


def test_a_heartbeat_brings_the_interrupt_when_the_bus_loses_it(
    client: anthropic.Anthropic, model_server: FakeModelServer, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.bus is not None
    publish = stack.bus.publish

    def lose_interrupts(message: BusMessage) -> None:
        if message.kind != "interrupt":
            publish(message)

    monkeypatch.setattr(stack.bus, "publish", lose_interrupts)
    monkeypatch.setattr(model_step, "MODEL_HEARTBEAT_SECONDS", 0.5)
    events, took = interrupt_a_slow_reply(client, model_server)
    assert events[-1].type == "session.status_idle" and events[-1].stop_reason.type == "end_turn"
    assert took < CUT_WITHIN_SECONDS
