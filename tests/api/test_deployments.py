"""Deployments through the official SDK (strict validation), on both databases and the real Temporal dev server.

Covers the CRUD routes, the Temporal Schedule each one mirrors (spec, pause state, deletion), upcoming run times in a
timezone across a DST change, manual runs that create a session which gets the initial events and replies, and the
bad inputs the param docs exclude, each a 4xx with nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anthropic
import httpx
import pytest

from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_environment, user_message, wait_for_idle_events
from tests.stack import Stack
from tests.temporal_helpers import describe_schedule

WEEKDAYS_9AM = {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "America/Los_Angeles"}


def deploy(client: anthropic.Anthropic, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "name": "nightly",
        "agent": overrides.pop("agent", None) or make_agent(client).id,
        "environment_id": overrides.pop("environment_id", None) or make_environment(client).id,
        "initial_events": [user_message("good morning")],
    }
    params.update(overrides)
    return client.beta.deployments.create(**params)


def count(client: anthropic.Anthropic) -> int:
    return len(list(client.beta.deployments.list(include_archived=True, limit=100)))


def test_create_with_a_schedule_mirrors_it_into_temporal(client: anthropic.Anthropic, stack: Stack) -> None:
    created = deploy(client, schedule=WEEKDAYS_9AM, metadata={"team": "ops"}, description="wake the team")
    assert created.type == "deployment" and created.id.startswith("depl_")
    assert created.status == "active" and created.paused_reason is None and created.archived_at is None
    assert created.agent.type == "agent" and created.agent.version == 1
    assert created.metadata == {"team": "ops"} and created.description == "wake the team"
    assert created.initial_events[0].type == "user.message"
    assert created.vault_ids == [] and created.resources == []
    schedule = created.schedule
    assert schedule is not None and schedule.expression == "0 9 * * 1-5" and schedule.last_run_at is None
    upcoming = schedule.upcoming_runs_at or []
    assert len(upcoming) == 5
    local = [moment.astimezone(ZoneInfo("America/Los_Angeles")) for moment in upcoming]
    assert all((t.hour, t.minute, t.second) == (9, 0, 0) and t.isoweekday() <= 5 for t in local)
    assert upcoming == sorted(upcoming) and upcoming[0] > datetime.now(UTC)
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None, "the deployment's Temporal Schedule exists, under the deployment's id"
    spec = described.schedule.spec
    assert spec.time_zone_name == "America/Los_Angeles"
    calendar = spec.calendars[0]
    assert [(r.start, r.end) for r in calendar.hour] == [(9, 9)] and [(r.start, r.end) for r in calendar.minute] == [
        (0, 0)
    ]
    assert [(r.start, r.end) for r in calendar.day_of_week] == [(1, 5)]
    assert spec.jitter == timedelta(seconds=1)
    assert [t.replace(second=0, microsecond=0) for t in described.info.next_action_times[:5]] == upcoming
    assert described.schedule.state.paused is False
    assert described.typed_search_attributes.get(_deployment_key()) == created.id
    assert client.beta.deployments.retrieve(created.id).schedule.upcoming_runs_at == upcoming  # type: ignore[union-attr]


def _deployment_key() -> Any:
    from workflows.schedule_entry import DEPLOYMENT_ID

    return DEPLOYMENT_ID


def next_transition(zone: ZoneInfo, after: datetime) -> datetime:
    """The first day (local noon) whose UTC offset differs from the day before."""
    day = after.astimezone(zone).replace(hour=12, minute=0, second=0, microsecond=0)
    offset = day.utcoffset()
    for _ in range(400):
        day = (day + timedelta(days=1)).replace(tzinfo=zone)
        day = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
        if day.utcoffset() != offset:
            return day
    raise AssertionError("no DST change within a year")


def test_upcoming_runs_cross_a_dst_change_in_the_deployment_timezone(client: anthropic.Anthropic) -> None:
    zone = ZoneInfo("Europe/Berlin")  # changes on the last Sunday of March and October: days 25-31, never a month end
    change = next_transition(zone, datetime.now(UTC) + timedelta(days=1))
    days = f"{change.day - 2}-{min(change.day + 2, 31)}"
    expression = f"0 12 {days} {change.month} *"
    created = deploy(client, schedule={"type": "cron", "expression": expression, "timezone": "Europe/Berlin"})
    upcoming = created.schedule.upcoming_runs_at or []  # type: ignore[union-attr]
    assert len(upcoming) >= 4
    local = [moment.astimezone(zone) for moment in upcoming]
    assert all((t.hour, t.minute) == (12, 0) for t in local), "every run is at noon, Berlin time"
    offsets = {t.utcoffset() for t in local}
    assert len(offsets) == 2, "the runs straddle the DST change"
    assert len({t.astimezone(UTC).hour for t in local}) == 2, "so their UTC hours differ by one"


def test_day_of_week_seven_is_sunday(client: anthropic.Anthropic, stack: Stack) -> None:
    created = deploy(client, schedule={"type": "cron", "expression": "30 6 * * 7", "timezone": "UTC"})
    upcoming = created.schedule.upcoming_runs_at or []  # type: ignore[union-attr]
    assert upcoming and all(t.isoweekday() == 7 and (t.hour, t.minute) == (6, 30) for t in upcoming)
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None
    assert [(r.start, r.end) for r in described.schedule.spec.calendars[0].day_of_week] == [(0, 0)]


def test_manual_run_creates_a_session_that_gets_the_initial_events_and_replies(
    client: anthropic.Anthropic, model_server: FakeModelServer
) -> None:
    events = [user_message("deployed hello"), {"type": "system.message", "content": [{"type": "text", "text": "ops"}]}]
    created = deploy(
        client, initial_events=events, budget={"type": "limit", "max_list_cost": {"amount": "5", "currency": "USD"}}
    )
    assert created.budget is not None and created.initial_events[1].type == "system.message"
    run = client.beta.deployments.run(created.id)
    assert run.type == "deployment_run" and run.id.startswith("drun_")
    assert run.trigger_context.type == "manual" and run.error is None and run.session_id
    assert run.deployment_id == created.id and (run.agent.id, run.agent.version) == (created.agent.id, 1)
    session = client.beta.sessions.retrieve(run.session_id)
    assert session.deployment_id == created.id and session.budget is not None
    listed = wait_for_idle_events(client, run.session_id, 1)
    kinds = [event.type for event in listed]
    assert kinds[:2] == ["user.message", "system.message"]
    reply = next(event for event in listed if event.type == "agent.message")
    assert "deployed hello" in reply.content[0].text
    sent = [r for r in model_server.requests if "deployed hello" in str(r.body.get("messages"))]
    assert sent and "<system>ops</system>" in str(sent[0].body["messages"]), "the system message reached the model"
    assert [s.id for s in client.beta.sessions.list(deployment_id=created.id)] == [run.session_id]
    assert run.session_id not in [s.id for s in client.beta.sessions.list(deployment_id="depl_none", limit=100)]
    assert client.beta.deployment_runs.retrieve(run.id).session_id == run.session_id
    runs = list(client.beta.deployment_runs.list(deployment_id=created.id))
    assert [r.id for r in runs] == [run.id]
    assert [r.id for r in client.beta.deployment_runs.list(deployment_id=created.id, trigger_type="schedule")] == []
    assert [r.id for r in client.beta.deployment_runs.list(deployment_id=created.id, has_error=False)] == [run.id]
    assert list(client.beta.deployment_runs.list(deployment_id="depl_unknown")) == []


def test_manual_run_of_an_archived_agent_records_the_error_without_pausing(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    created = deploy(client, agent=agent.id)
    client.beta.agents.archive(agent.id)
    run = client.beta.deployments.run(created.id)
    assert run.session_id is None and run.error is not None and run.error.type == "agent_archived_error"
    assert client.beta.deployments.retrieve(created.id).status == "active", "manual runs never auto-pause"
    assert [r.id for r in client.beta.deployment_runs.list(deployment_id=created.id, has_error=True)] == [run.id]


def test_update_each_field(client: anthropic.Anthropic, stack: Stack) -> None:
    agent = make_agent(client)
    created = deploy(client, agent=agent.id, schedule=WEEKDAYS_9AM, metadata={"a": "1", "b": "2"}, description="d")
    client.beta.agents.update(agent.id, version=1, system="be brief")
    repinned = client.beta.deployments.update(created.id, agent=agent.id)
    assert repinned.agent.version == 2 and repinned.updated_at > created.updated_at
    pinned = client.beta.deployments.update(created.id, agent={"type": "agent", "id": agent.id, "version": 1})
    assert pinned.agent.version == 1
    replaced = client.beta.deployments.update(created.id, initial_events=[user_message("one"), user_message("two")])
    assert [e.content[0].text for e in replaced.initial_events] == ["one", "two"]  # type: ignore[union-attr]
    patched = client.beta.deployments.update(created.id, metadata={"a": None, "c": "3"}, description="", name="n2")
    assert patched.metadata == {"b": "2", "c": "3"} and patched.description is None and patched.name == "n2"
    budget = client.beta.deployments.update(
        created.id, budget={"type": "limit", "max_list_cost": {"amount": "9", "currency": "USD"}}
    )
    assert budget.budget is not None and client.beta.deployments.update(created.id, budget=None).budget is None
    moved = client.beta.deployments.update(
        created.id, schedule={"type": "cron", "expression": "15 7 * * *", "timezone": "UTC"}
    )
    assert all((t.hour, t.minute) == (7, 15) for t in moved.schedule.upcoming_runs_at or [])  # type: ignore[union-attr]
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None and described.schedule.spec.time_zone_name == "UTC"
    cleared = client.beta.deployments.update(created.id, schedule=None)
    assert cleared.schedule is None
    assert describe_schedule(stack.temporal_address, created.id) is None, "manual-only: the schedule is deleted"
    again = client.beta.deployments.update(created.id, schedule=WEEKDAYS_9AM)
    assert again.schedule is not None and describe_schedule(stack.temporal_address, created.id) is not None
    same = client.beta.deployments.update(created.id, name="n2")
    assert same.updated_at == again.updated_at, "an update that changes nothing leaves updated_at alone"
    env = make_environment(client)
    assert client.beta.deployments.update(created.id, environment_id=env.id).environment_id == env.id
    assert client.beta.deployments.update(created.id, vault_ids=[], resources=None).vault_ids == []


BAD_SCHEDULES = [
    ("0 9 * * * *", "5 fields"),
    ("@daily", "shortcuts"),
    ("0 9 L * *", "special characters"),
    ("0 9 15W * *", "special characters"),
    ("0 9 * * 1#2", "special characters"),
    ("0 9 ? * 1", "special characters"),
    ("61 9 * * *", "minute"),
    ("0 9 * * 8", "day-of-week"),
    ("0 9 5-1 * *", "backwards"),
]


@pytest.mark.parametrize(("expression", "says"), BAD_SCHEDULES)
def test_bad_cron_expressions_are_refused_and_nothing_is_written(
    client: anthropic.Anthropic, expression: str, says: str
) -> None:
    agent, env = make_agent(client), make_environment(client)
    before = count(client)
    with pytest.raises(anthropic.BadRequestError) as caught:
        deploy(
            client,
            agent=agent.id,
            environment_id=env.id,
            schedule={"type": "cron", "expression": expression, "timezone": "UTC"},
        )
    assert says in caught.value.message and caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert count(client) == before


def test_other_bad_inputs_are_4xx_in_the_envelope_and_write_nothing(
    client: anthropic.Anthropic, http: httpx.Client
) -> None:
    agent, env = make_agent(client), make_environment(client)
    archived_agent = make_agent(client)
    client.beta.agents.archive(archived_agent.id)
    archived_env = make_environment(client)
    client.beta.environments.archive(archived_env.id)
    good: dict[str, Any] = {
        "name": "x",
        "agent": agent.id,
        "environment_id": env.id,
        "initial_events": [user_message("hi")],
    }
    outcome = {"type": "user.define_outcome", "description": "d", "rubric": {"type": "text", "content": "c"}}
    system = {"type": "system.message", "content": [{"type": "text", "text": "s"}]}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Olympus"}}, 400),
        ({"initial_events": []}, 400),
        ({"initial_events": [user_message(str(i)) for i in range(51)]}, 400),
        ({"agent": archived_agent.id}, 400),
        ({"agent": "agent_missing"}, 404),
        ({"agent": {"type": "agent", "id": agent.id, "version": 7}}, 404),
        ({"environment_id": archived_env.id}, 400),
        ({"environment_id": "env_missing"}, 404),
        ({"vault_ids": ["vlt_x"]}, 404),
        ({"resources": [{"type": "file", "file_id": "file_x"}]}, 404),
        ({"resources": [{"type": "memory_store", "memory_store_id": "memstore_x"}]}, 404),
        (
            {"resources": [{"type": "github_repository", "url": "https://github.com/a/b", "authorization_token": "t"}]},
            400,
        ),
        ({"initial_events": [outcome]}, 400),
        ({"initial_events": [system, user_message("hi")]}, 400),
        ({"metadata": {str(i): "v" for i in range(17)}}, 400),
        ({"name": ""}, 400),
        ({"schedule": {"type": "cron", "expression": "0 9 * * *"}}, 400),
    ]
    before = count(client)
    for change, status in cases:
        response = http.post("/v1/deployments", json={**good, **change})
        assert response.status_code == status, (change, response.text)
        body = response.json()
        assert body["type"] == "error" and isinstance(body["error"]["message"], str), body
    assert count(client) == before, "a refused create wrote nothing"


def test_bad_updates_are_refused_and_change_nothing(
    client: anthropic.Anthropic, http: httpx.Client, stack: Stack
) -> None:
    created = deploy(client, schedule=WEEKDAYS_9AM)
    archived_agent = make_agent(client)
    client.beta.agents.archive(archived_agent.id)
    cases: list[dict[str, Any]] = [
        {"schedule": {"type": "cron", "expression": "@daily", "timezone": "UTC"}},
        {"schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Nowhere/Land"}},
        {"initial_events": []},
        {"initial_events": [user_message(str(i)) for i in range(51)]},
        {"agent": archived_agent.id},
        {"agent": None},
        {"name": None},
        {"name": ""},
        {"environment_id": None},
        {"initial_events": None},
        {"metadata": {str(i): "v" for i in range(17)}},
        {"vault_ids": ["vlt_x"]},
    ]
    for change in cases:
        response = http.post(f"/v1/deployments/{created.id}", json=change)
        assert 400 <= response.status_code < 500 and response.json()["type"] == "error", (change, response.text)
    after = client.beta.deployments.retrieve(created.id)
    assert after.model_dump(exclude={"schedule"}) == created.model_dump(exclude={"schedule"})
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None and described.schedule.spec.time_zone_name == "America/Los_Angeles"


def test_pause_unpause_and_archive_map_onto_the_schedule(client: anthropic.Anthropic, stack: Stack) -> None:
    created = deploy(client, schedule=WEEKDAYS_9AM)
    paused = client.beta.deployments.pause(created.id)
    assert paused.status == "paused" and paused.paused_reason is not None and paused.paused_reason.type == "manual"
    assert paused.schedule is not None and paused.schedule.upcoming_runs_at, "a paused schedule still lists its runs"
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None and described.schedule.state.paused
    assert [d.id for d in client.beta.deployments.list(status="paused", limit=100)].count(created.id) == 1
    resumed = client.beta.deployments.unpause(created.id)
    assert resumed.status == "active" and resumed.paused_reason is None
    described = describe_schedule(stack.temporal_address, created.id)
    assert described is not None and not described.schedule.state.paused
    client.beta.deployments.pause(created.id)
    archived = client.beta.deployments.archive(created.id)
    assert archived.archived_at is not None and archived.status == "active" and archived.paused_reason is None
    assert archived.schedule is not None and archived.schedule.upcoming_runs_at == []
    assert describe_schedule(stack.temporal_address, created.id) is None, "archive deletes the schedule"
    assert client.beta.deployments.retrieve(created.id).archived_at is not None, "and keeps the record"
    assert client.beta.deployments.archive(created.id).archived_at == archived.archived_at
    for call in (
        lambda: client.beta.deployments.pause(created.id),
        lambda: client.beta.deployments.unpause(created.id),
        lambda: client.beta.deployments.run(created.id),
        lambda: client.beta.deployments.update(created.id, name="late"),
    ):
        with pytest.raises(anthropic.BadRequestError):
            call()
    assert created.id not in [d.id for d in client.beta.deployments.list(limit=100)]
    assert created.id in [d.id for d in client.beta.deployments.list(include_archived=True, limit=100)]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.deployments.list(status="active", include_archived=True)


def test_list_filters_and_pages(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    made = [deploy(client, agent=agent.id, name=f"d{i}") for i in range(3)]
    listed = list(client.beta.deployments.list(agent_id=agent.id, limit=2))
    assert [d.id for d in listed] == [d.id for d in reversed(made)], "newest first, across pages"
    first = client.beta.deployments.list(agent_id=agent.id, limit=2)
    assert len(first.data) == 2 and first.next_page
    since = client.beta.deployments.list(agent_id=agent.id, created_at_gte=made[1].created_at)
    assert [d.id for d in since.data] == [made[2].id, made[1].id]
    assert list(client.beta.deployments.list(agent_id="agent_nobody")) == []
    with pytest.raises(anthropic.BadRequestError):
        client.beta.deployments.list(page="garbage!")


def test_unknown_ids_are_404(client: anthropic.Anthropic) -> None:
    for call in (
        lambda: client.beta.deployments.retrieve("depl_missing"),
        lambda: client.beta.deployments.run("depl_missing"),
        lambda: client.beta.deployments.pause("nonsense"),
        lambda: client.beta.deployment_runs.retrieve("drun_missing"),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()


def test_resources_pass_through_to_the_sessions_a_deployment_creates(client: anthropic.Anthropic) -> None:
    data = client.beta.files.upload(file=("data.csv", b"a,b\n", "text/csv"))
    store = client.beta.memory_stores.create(name="Deploy Notes")
    resources: list[Any] = [
        {"type": "file", "file_id": data.id, "mount_path": "/workspace/data.csv"},
        {"type": "memory_store", "memory_store_id": store.id, "access": "read_only", "instructions": "read first"},
    ]
    created = deploy(client, resources=resources)
    assert [r.to_dict() for r in created.resources] == resources
    assert client.beta.deployments.retrieve(created.id).resources == created.resources
    run = client.beta.deployments.run(created.id)
    assert run.error is None and run.session_id
    session = client.beta.sessions.retrieve(run.session_id)
    attached = [r.to_dict() for r in session.resources]
    assert attached[0]["type"] == "file" and attached[0]["file_id"] == data.id
    assert attached[0]["mount_path"] == "/workspace/data.csv"
    assert attached[1]["memory_store_id"] == store.id and attached[1]["access"] == "read_only"
    assert attached[1]["instructions"] == "read first"
    assert [s.id for s in client.beta.sessions.list(memory_store_id=store.id)] == [run.session_id]
    # A file deleted since the deployment was made: the next fire records which reference broke.
    client.beta.files.delete(data.id)
    broken = client.beta.deployments.run(created.id)
    assert broken.session_id is None and broken.error is not None and broken.error.type == "file_not_found_error"
    cleared = client.beta.deployments.update(created.id, resources=[])
    assert cleared.resources == []
    assert client.beta.deployments.run(created.id).error is None


def test_a_fire_with_an_archived_memory_store_names_it(client: anthropic.Anthropic) -> None:
    store = client.beta.memory_stores.create(name="Soon Archived")
    created = deploy(client, resources=[{"type": "memory_store", "memory_store_id": store.id}])
    client.beta.memory_stores.archive(store.id)
    run = client.beta.deployments.run(created.id)
    assert run.session_id is None and run.error is not None and run.error.type == "memory_store_archived_error"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.deployments.update(created.id, resources=[{"type": "memory_store", "memory_store_id": store.id}])


def test_vault_ids_reach_the_sessions_and_a_vault_archived_since_fails_the_run(client: anthropic.Anthropic) -> None:
    vault = client.beta.vaults.create(display_name="deployed")
    other = client.beta.vaults.create(display_name="swapped in")
    created = deploy(client, vault_ids=[vault.id])
    assert created.vault_ids == [vault.id]
    run = client.beta.deployments.run(created.id)
    assert run.error is None and run.session_id is not None
    assert client.beta.sessions.retrieve(run.session_id).vault_ids == [vault.id]
    assert client.beta.deployments.update(created.id, vault_ids=[other.id, vault.id]).vault_ids == [other.id, vault.id]
    client.beta.vaults.archive(vault.id)
    failed = client.beta.deployments.run(created.id)
    assert failed.session_id is None and failed.error is not None and failed.error.type == "vault_archived_error"
    assert vault.id in failed.error.message
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        deploy(client, vault_ids=[vault.id])
    with pytest.raises(anthropic.BadRequestError, match="more than once"):
        client.beta.deployments.update(created.id, vault_ids=[other.id, other.id])
    assert client.beta.deployments.retrieve(created.id).vault_ids == [other.id, vault.id]
