"""Size limits that protect the store: one event, one request's events, and the request body itself (defaults)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx

from dma.settings import ApiSettings
from tests.helpers import make_agent, make_environment, make_session, wait_for_idle_events

MB = 1_000_000
DEFAULTS = ApiSettings()


def message_of(blocks: int, block_chars: int = MB) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": "x" * block_chars}] * blocks}


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]  # a refused 50 MB body must not flood the log
    body: dict[str, Any] = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    return body


def post_json(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def test_one_event_of_many_blocks_is_refused(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = make_session(client)
    response = post_json(http, f"/v1/sessions/{session.id}/events", {"events": [message_of(50)]})
    message = assert_envelope(response, 400, "invalid_request_error")["error"]["message"]
    assert "events.0" in message and str(DEFAULTS.max_event_bytes) in message and "DMA_MAX_EVENT_BYTES" in message
    assert list(client.beta.sessions.events.list(session.id)) == []
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_a_request_whose_events_are_too_large_together_is_refused(
    client: anthropic.Anthropic, http: httpx.Client
) -> None:
    session = make_session(client)
    per_event = DEFAULTS.max_event_bytes // MB - 1  # each event alone is within its limit
    count = DEFAULTS.max_request_event_bytes // (per_event * MB) + 1
    events = [message_of(per_event) for _ in range(count)]
    response = post_json(http, f"/v1/sessions/{session.id}/events", {"events": events})
    message = assert_envelope(response, 400, "invalid_request_error")["error"]["message"]
    assert str(DEFAULTS.max_request_event_bytes) in message and "DMA_MAX_REQUEST_EVENT_BYTES" in message
    assert list(client.beta.sessions.events.list(session.id)) == []


def test_initial_events_are_capped_too(client: anthropic.Anthropic, http: httpx.Client) -> None:
    agent = make_agent(client)
    body = {"agent": agent.id, "environment_id": make_environment(client).id, "initial_events": [message_of(50)]}
    message = assert_envelope(post_json(http, "/v1/sessions", body), 400, "invalid_request_error")["error"]["message"]
    assert "DMA_MAX_EVENT_BYTES" in message
    assert list(client.beta.sessions.list(agent_id=agent.id, include_archived=True)) == []


def test_an_oversized_body_is_refused_before_it_is_parsed(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = make_session(client)
    limit = DEFAULTS.max_body_bytes()
    assert limit > 50 * MB  # so the cases above meet the events limits, which answer with their own message
    response = http.post(
        f"/v1/sessions/{session.id}/events", content=b" " * (limit + 1), headers={"content-type": "application/json"}
    )
    message = assert_envelope(response, 413, "invalid_request_error")["error"]["message"]
    assert str(limit) in message

    def chunks() -> Iterator[bytes]:  # no content-length: the guard counts what arrives
        for _ in range(limit // MB + 1):
            yield b" " * MB

    chunked = http.post(
        f"/v1/sessions/{session.id}/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert str(limit) in assert_envelope(chunked, 413, "invalid_request_error")["error"]["message"]
    assert list(client.beta.sessions.events.list(session.id)) == []


def test_events_within_the_limits_are_accepted(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = make_session(client)
    response = post_json(http, f"/v1/sessions/{session.id}/events", {"events": [message_of(2, 1000)]})
    assert response.status_code == 200, response.text
    # Let the turn end here: a model call still running would take a reply another test queued on the fake model.
    wait_for_idle_events(client, session.id, 1)
