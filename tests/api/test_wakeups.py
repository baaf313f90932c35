"""Self-wakeups end to end through the REST extension (``dma.wakeups``, the interface the model's tools will use),
with the scripted model, on both databases and the real Temporal dev server.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx

from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session, until_idle, user_message, wait_for_idle_events
from tests.stack import Stack
from tests.temporal_helpers import describe_schedule
from workflows.schedule_entry import SESSION_ID, wakeup_schedule_id


def wake(http: httpx.Client, session_id: str, **body: Any) -> httpx.Response:
    return http.post(f"/v1/sessions/{session_id}/wakeups", json=body)


def created(http: httpx.Client, session_id: str, **body: Any) -> dict[str, Any]:
    response = wake(http, session_id, **body)
    assert response.status_code == 200, response.text
    return response.json()


def model_saw(model_server: FakeModelServer, text: str) -> list[Any]:
    return [r for r in model_server.requests if text in str(r.body.get("messages"))]


def test_a_one_shot_wakeup_starts_a_turn_whose_context_shows_the_reason(
    client: anthropic.Anthropic, http: httpx.Client, model_server: FakeModelServer
) -> None:
    session = make_session(client)
    wakeup = created(http, session.id, reason="check the oven", in_seconds=2)
    assert wakeup["type"] == "wakeup" and wakeup["id"].startswith("wake_") and wakeup["status"] == "pending"
    assert wakeup["kind"] == "once" and wakeup["fire_at"] is not None
    listed = http.get(f"/v1/sessions/{session.id}/wakeups").json()["data"]
    assert [w["id"] for w in listed] == [wakeup["id"]]
    events = wait_for_idle_events(client, session.id, 1)
    system = next(e for e in events if e.type == "system.message")
    assert "check the oven" in system.content[0].text and wakeup["id"] in system.content[0].text
    assert system.processed_at is not None
    assert [e.type for e in events][0] == "system.message", "the wakeup started the turn"
    seen = model_saw(model_server, "check the oven")
    assert seen and "<system>" in str(seen[0].body["messages"]), "the reason is in the model's context"
    done = http.get(f"/v1/sessions/{session.id}/wakeups/{wakeup['id']}").json()
    assert done["status"] == "fired" and done["fire_count"] == 1 and done["last_fired_at"] is not None
    assert http.get(f"/v1/sessions/{session.id}/wakeups").json()["data"] == []
    every = http.get(f"/v1/sessions/{session.id}/wakeups", params={"include_inactive": "true"}).json()["data"]
    assert [w["id"] for w in every] == [wakeup["id"]]


def test_a_wakeup_waits_behind_a_running_turn(client: anthropic.Anthropic, http: httpx.Client) -> None:
    session = make_session(client)
    with client.beta.sessions.events.stream(session.id) as stream:
        client.beta.sessions.events.send(session.id, events=[user_message("[[slow:4]] first")])
        created(http, session.id, reason="second thoughts", in_seconds=1)
        seen = until_idle(stream, turns=2)
    kinds = [e.type for e in seen]
    first_idle = kinds.index("session.status_idle")
    assert "system.message" in kinds[first_idle:], "the wakeup's turn came after the running one"
    events = list(client.beta.sessions.events.list(session.id))
    system = next(e for e in events if e.type == "system.message")
    assert "second thoughts" in system.content[0].text


def test_a_recurring_wakeup_fires_twice_and_is_cancelled(
    client: anthropic.Anthropic, http: httpx.Client, stack: Stack
) -> None:
    session = make_session(client)
    wakeup = created(http, session.id, reason="tick", every_seconds=2)
    assert wakeup["kind"] == "recurring" and wakeup["schedule"] == {"type": "interval", "every_seconds": 2}
    schedule_id = wakeup_schedule_id(session.id, wakeup["id"])
    described = describe_schedule(stack.temporal_address, schedule_id)
    assert described is not None and described.typed_search_attributes.get(SESSION_ID) == session.id
    wait_for_idle_events(client, session.id, 2, timeout=40)
    cancelled = http.post(f"/v1/sessions/{session.id}/wakeups/{wakeup['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["fire_count"] >= 2
    assert describe_schedule(stack.temporal_address, schedule_id) is None, "cancel deletes the schedule"
    time.sleep(1)
    settled = len([e for e in client.beta.sessions.events.list(session.id) if e.type == "system.message"])
    time.sleep(4)
    later = [e for e in client.beta.sessions.events.list(session.id) if e.type == "system.message"]
    assert len(later) == settled, "a cancelled wakeup fires no more"
    assert len({e.id for e in later}) == len(later)


def test_a_cron_wakeup_is_a_schedule_in_its_timezone(
    http: httpx.Client, client: anthropic.Anthropic, stack: Stack
) -> None:
    session = make_session(client)
    cron = {"expression": "0 8 * * 7", "timezone": "Asia/Tokyo"}
    wakeup = created(http, session.id, reason="weekly review", cron=cron)
    assert wakeup["schedule"] == {"type": "cron", **cron}
    described = describe_schedule(stack.temporal_address, wakeup_schedule_id(session.id, wakeup["id"]))
    assert described is not None and described.schedule.spec.time_zone_name == "Asia/Tokyo"
    assert [(r.start, r.end) for r in described.schedule.spec.calendars[0].day_of_week] == [(0, 0)]
    nxt = described.info.next_action_times[0].astimezone(UTC) + timedelta(hours=9)
    assert (nxt.hour, nxt.isoweekday()) == (8, 7)


def test_deleting_a_session_removes_its_wakeups_and_schedule(
    http: httpx.Client, client: anthropic.Anthropic, stack: Stack
) -> None:
    session = make_session(client)
    recurring = created(http, session.id, reason="r", every_seconds=600)
    created(http, session.id, reason="o", in_seconds=600)
    schedule_id = wakeup_schedule_id(session.id, recurring["id"])
    assert describe_schedule(stack.temporal_address, schedule_id) is not None
    client.beta.sessions.delete(session.id)
    assert describe_schedule(stack.temporal_address, schedule_id) is None
    assert http.get(f"/v1/sessions/{session.id}/wakeups").status_code == 404


def test_archiving_a_session_cancels_its_wakeups(http: httpx.Client, client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    recurring = created(http, session.id, reason="r", cron={"expression": "0 * * * *"})
    client.beta.sessions.archive(session.id)
    assert describe_schedule(stack.temporal_address, wakeup_schedule_id(session.id, recurring["id"])) is None
    listed = http.get(f"/v1/sessions/{session.id}/wakeups", params={"include_inactive": "true"}).json()["data"]
    assert {w["status"] for w in listed} == {"cancelled"}
    assert wake(http, session.id, reason="late", in_seconds=60).status_code == 400


def test_bad_wakeups_and_limits_are_refused_with_a_clear_error(http: httpx.Client, client: anthropic.Anthropic) -> None:
    session = make_session(client)
    soon = (datetime.now(UTC) + timedelta(milliseconds=200)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    naive = datetime.now().replace(microsecond=0).isoformat()  # noqa: DTZ005 - deliberately without an offset
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reason": "x"}, "exactly one"),
        ({"reason": "x", "in_seconds": 5, "every_seconds": 5}, "exactly one"),
        ({"reason": "x", "at": soon}, "at least 1 seconds"),
        ({"reason": "x", "at": past}, "at least 1 seconds"),
        ({"reason": "x", "at": naive}, "timezone"),
        ({"reason": "x", "cron": {"expression": "@hourly"}}, "shortcuts"),
        ({"reason": "x", "cron": {"expression": "0 * * * *", "timezone": "Moon/Base"}}, "IANA"),
        ({"reason": "", "in_seconds": 5}, "reason"),
        ({"reason": "x", "in_seconds": 0}, "in_seconds"),
    ]
    for body, says in cases:
        response = wake(http, session.id, **body)
        assert response.status_code == 400, (body, response.text)
        assert says in response.json()["error"]["message"], (body, response.text)
    assert wake(http, "sesn_missing", reason="x", in_seconds=5).status_code == 404
    for index in range(10):
        created(http, session.id, reason=f"n{index}", in_seconds=3600)
    refused = wake(http, session.id, reason="one too many", in_seconds=3600)
    assert refused.status_code == 400 and "wakeup_max_per_session" in refused.json()["error"]["message"]
    assert len(http.get(f"/v1/sessions/{session.id}/wakeups").json()["data"]) == 10
    assert http.post(f"/v1/sessions/{session.id}/wakeups/wake_missing/cancel").status_code == 404
