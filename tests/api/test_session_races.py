"""Delete and archive racing a POST of events: the decision and the write happen under one row lock."""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import pytest

from tests.helpers import make_session, user_message
from tests.stack import API_KEY, Stack

ROUNDS = 25


async def _race(http: httpx.AsyncClient, session_id: str, action: str) -> tuple[int, int]:
    """POST a message and delete/archive the session at the same moment; returns both status codes."""
    post = http.post(f"/v1/sessions/{session_id}/events", json={"events": [user_message("race")]})
    if action == "delete":
        other = http.delete(f"/v1/sessions/{session_id}")
    else:
        other = http.post(f"/v1/sessions/{session_id}/archive")
    sent, acted = await asyncio.gather(post, other)
    return sent.status_code, acted.status_code


@pytest.mark.parametrize("action", ["delete", "archive"])
async def test_delete_or_archive_racing_a_post_never_loses_an_accepted_event(
    stack: Stack, client: anthropic.Anthropic, action: str
) -> None:
    sessions = [make_session(client).id for _ in range(ROUNDS)]
    outcomes: list[tuple[int, int]] = []
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=30) as http:
        for session_id in sessions:
            outcomes.append(await _race(http, session_id, action))
    for session_id, (sent, acted) in zip(sessions, outcomes, strict=True):
        # Either the POST got in first (the session then has a turn to run, so it cannot go) or the delete/archive
        # did (the POST then finds no session, or an archived one). Never both: that event would be lost.
        assert (sent, acted) in {(200, 400), (404, 200), (400, 200)}, (session_id, sent, acted)
