"""Small helpers shared by the API tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import anthropic

TERMINAL_STOPS = {"end_turn", "retries_exhausted", "refusal", "budget_reached"}


def make_agent(client: anthropic.Anthropic, **overrides: Any) -> Any:
    params: dict[str, Any] = {"model": "claude-sonnet-4-6", "name": "test-agent"}
    params.update(overrides)
    return client.beta.agents.create(**params)


def make_environment(client: anthropic.Anthropic) -> Any:
    return client.beta.environments.create(
        name="test-env", config={"type": "cloud", "networking": {"type": "unrestricted"}}
    )


def make_session(client: anthropic.Anthropic, **overrides: Any) -> Any:
    agent = overrides.pop("agent", None) or make_agent(client).id
    environment_id = overrides.pop("environment_id", None) or make_environment(client).id
    return client.beta.sessions.create(agent=agent, environment_id=environment_id, **overrides)


def user_message(text: str) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def until_idle(stream: Iterable[Any], turns: int = 1) -> list[Any]:
    """Collect stream events until ``turns`` turns have ended (idle with a terminal stop reason)."""
    seen: list[Any] = []
    for event in stream:
        seen.append(event)
        if event.type == "session.status_idle" and event.stop_reason.type in TERMINAL_STOPS:
            turns -= 1
            if turns == 0:
                return seen
        if event.type in ("session.status_terminated", "session.deleted"):
            return seen
    return seen


def wait_for_status(client: anthropic.Anthropic, session_id: str, status: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        session = client.beta.sessions.retrieve(session_id)
        if session.status == status:
            return session
        if time.monotonic() > deadline:
            raise AssertionError(f"session {session_id} stayed {session.status}, wanted {status}")
        time.sleep(0.05)


def wait_for_event(client: anthropic.Anthropic, session_id: str, event_type: str, timeout: float = 20) -> None:
    """Until the session's log holds an event of ``event_type`` (e.g. its model request has started)."""
    deadline = time.monotonic() + timeout
    while event_type not in [event.type for event in client.beta.sessions.events.list(session_id)]:
        if time.monotonic() > deadline:
            raise AssertionError(f"session {session_id} has no {event_type} after {timeout:.0f} s")
        time.sleep(0.05)


def wait_for_idle_events(client: anthropic.Anthropic, session_id: str, count: int, timeout: float = 30) -> list[Any]:
    """Poll the event list until ``count`` turns have ended; returns the whole list."""
    deadline = time.monotonic() + timeout
    while True:
        events = list(client.beta.sessions.events.list(session_id))
        idles = [e for e in events if e.type == "session.status_idle" and e.stop_reason.type in TERMINAL_STOPS]
        if len(idles) >= count:
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(idles)} of {count} turns ended: {[e.type for e in events]}")
        time.sleep(0.05)


# Where each scenario model's requests must arrive at the fake model server, and the model name it must carry.
WIRE_PATHS = {
    "claude-sonnet-4-6": ("/v1/messages", "claude-sonnet-4-6"),
    "openai/gpt-4o-mini": ("/v1/chat/completions", "gpt-4o-mini"),
    "local/qwen-test": ("/v1/chat/completions", "qwen-test"),
    "resp/gpt-test": ("/v1/responses", "gpt-test"),
}


def span_model(event: Any) -> str | None:
    """The model a ``span.model_request_*`` event names (a field beyond the SDK's, kept as an extra)."""
    extra: dict[str, Any] = event.model_extra or {}
    return extra.get("model")
