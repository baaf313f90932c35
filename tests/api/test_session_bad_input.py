"""Bad input on sessions and events: a 4xx in the error envelope, never a 500, and nothing written."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.helpers import make_agent, make_environment, make_session


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response.headers["request-id"].startswith("req_")
    assert body["request_id"] == response.headers["request-id"]
    return body


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"events": []}',
        b'{"events": "user.message"}',
        b'{"events": [{"type": "user.bogus"}]}',
        b'{"events": [{"type": "user.message"}]}',
        b'{"events": [{"type": "user.message", "content": "hi"}]}',
        b'{"events": [{"type": "user.message", "content": []}]}',
        b'{"events": [{"type": "user.message", "content": [{"type": "text", "text": 5}]}]}',
        b'{"events": [{"type": "user.message", "content": [{"type": "redacted"}]}]}',
        b'{"events": [{"type": "user.message", "content": [{"type": "image", "source": {"type": "url"}}]}]}',
    ],
)
def test_bad_events_are_rejected_and_nothing_is_written(
    client: anthropic.Anthropic, http: httpx.Client, payload: bytes
) -> None:
    session = make_session(client)
    response = http.post(
        f"/v1/sessions/{session.id}/events", content=payload, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400, "invalid_request_error")
    assert list(client.beta.sessions.events.list(session.id)) == []
    assert client.beta.sessions.retrieve(session.id).status == "idle"


def test_unknown_ids_are_404(http: httpx.Client) -> None:
    message = {"events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]}
    assert_envelope(http.post("/v1/sessions/sesn_nope/events", json=message), 404, "not_found_error")
    assert_envelope(http.get("/v1/sessions/sesn_nope"), 404, "not_found_error")
    assert_envelope(http.get("/v1/sessions/sesn_nope/events"), 404, "not_found_error")
    assert_envelope(http.get("/v1/sessions/sesn_nope/events/stream"), 404, "not_found_error")
    assert_envelope(http.delete("/v1/sessions/../../etc"), 404, "not_found_error")
    assert_envelope(http.get("/v1/nothing/here"), 404, "not_found_error")


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=0",
        "limit=100000",
        "order=sideways",
        "statuses[]=bogus",
        "created_at[gte]=yesterday",
        "created_at[gte]=2026-01-01T00:00:00",
        "page=garbage!!",
        "agent_version=zero",
    ],
)
def test_bad_session_list_queries(http: httpx.Client, query: str) -> None:
    assert_envelope(http.get(f"/v1/sessions?{query}"), 400, "invalid_request_error")


@pytest.mark.parametrize(
    "query", ["limit=-1", "order=up", "types[]=agent.nope", "page=eyJ4IjogMX0", "created_at[lt]=nope"]
)
def test_bad_event_list_queries(client: anthropic.Anthropic, http: httpx.Client, query: str) -> None:
    session = make_session(client)
    assert_envelope(http.get(f"/v1/sessions/{session.id}/events?{query}"), 400, "invalid_request_error")


def test_bad_session_creates(client: anthropic.Anthropic, http: httpx.Client) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    before = len(list(client.beta.sessions.list(agent_id=agent.id, include_archived=True)))
    bad_bodies: list[Any] = [
        {"agent": agent.id},
        {"environment_id": env.id},
        {"agent": agent.id, "environment_id": env.id, "title": "x" * 501},
        {"agent": agent.id, "environment_id": env.id, "metadata": {f"k{i}": "v" for i in range(17)}},
        {"agent": agent.id, "environment_id": env.id, "metadata": {"k": 1}},
        {"agent": 5, "environment_id": env.id},
        {"agent": {"type": "agent", "id": agent.id, "version": "1"}, "environment_id": env.id},
        {"agent": agent.id, "environment_id": env.id, "initial_events": [{"type": "user.interrupt"}]},
        {
            "agent": agent.id,
            "environment_id": env.id,
            "budget": {"type": "limit", "max_list_cost": {"amount": "25.00", "currency": "USD"}},
        },
        {"agent": {"type": "agent_with_overrides", "id": agent.id, "model": None}, "environment_id": env.id},
    ]
    for body in bad_bodies:
        assert_envelope(http.post("/v1/sessions", json=body), 400, "invalid_request_error")
    after = len(list(client.beta.sessions.list(agent_id=agent.id, include_archived=True)))
    assert after == before


def test_missing_or_wrong_key(stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url) as anonymous:
        assert_envelope(anonymous.get("/v1/sessions"), 401, "authentication_error")
        wrong = anonymous.get("/v1/sessions", headers={"x-api-key": "wrong"})
        assert_envelope(wrong, 401, "authentication_error")
        assert anonymous.get("/v1/sessions", headers={"x-api-key": "test-key"}).status_code == 200
        assert anonymous.get("/health").status_code == 200


def test_update_bad_input(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = make_session(client)
    for body in ({"title": 5}, {"metadata": {"k": ["v"]}}, {"metadata": {"x" * 65: "v"}}):
        assert_envelope(http.post(f"/v1/sessions/{session.id}", json=body), 400, "invalid_request_error")
    assert client.beta.sessions.retrieve(session.id).title is None
