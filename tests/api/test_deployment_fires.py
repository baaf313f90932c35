"""Real cron fires on the Temporal dev server: a per-minute schedule fires, pause stops fires, unpause resumes, and a
fire whose agent was archived records the typed error and pauses its deployment. Both databases, SDK strict mode.

One test covers them all so the two minute boundaries it waits for are shared (about two minutes per backend).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import pytest

from tests.api.test_deployments import deploy
from tests.helpers import make_agent, wait_for_idle_events
from tests.stack import Stack
from tests.temporal_helpers import describe_schedule

EVERY_MINUTE = {"type": "cron", "expression": "* * * * *", "timezone": "UTC"}
# A fire starts within the jitter (1 s in tests) after its minute; this leaves room for a busy two-core machine.
PATIENCE = timedelta(seconds=80)
SCHEDULER_LAG = timedelta(seconds=5)


def wait_for_runs(client: anthropic.Anthropic, deployment_id: str, count: int, until: datetime) -> list[Any]:
    while True:
        runs = list(client.beta.deployment_runs.list(deployment_id=deployment_id))
        if len(runs) >= count:
            return runs
        assert datetime.now(UTC) < until, f"{deployment_id} has {len(runs)} of {count} runs"
        time.sleep(0.5)


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


@pytest.mark.timeout(300)
def test_cron_fires_pause_holds_unpause_resumes_and_errors_pause(client: anthropic.Anthropic, stack: Stack) -> None:
    firing = deploy(client, schedule=EVERY_MINUTE)
    held = deploy(client, schedule=EVERY_MINUTE)
    client.beta.deployments.pause(held.id)
    doomed_agent = make_agent(client)
    doomed = deploy(client, agent=doomed_agent.id, schedule=EVERY_MINUTE)
    client.beta.agents.archive(doomed_agent.id)
    created = datetime.now(UTC)
    first_minute = next_minute(created)
    assert (firing.schedule.upcoming_runs_at or [])[0] == first_minute  # type: ignore[union-attr]

    run = wait_for_runs(client, firing.id, 1, first_minute + PATIENCE)[-1]
    assert run.trigger_context.type == "schedule" and run.error is None and run.session_id
    assert run.trigger_context.scheduled_at == first_minute, "scheduled_at is the cron minute, before jitter"
    assert run.created_at >= first_minute
    events = wait_for_idle_events(client, run.session_id, 1)
    assert any(e.type == "agent.message" and "good morning" in e.content[0].text for e in events)
    assert client.beta.sessions.retrieve(run.session_id).deployment_id == firing.id
    last = client.beta.deployments.retrieve(firing.id).schedule.last_run_at  # type: ignore[union-attr]
    assert last is not None and last >= first_minute, "last_run_at is when the schedule's fire actually started"

    failed = wait_for_runs(client, doomed.id, 1, first_minute + PATIENCE)[-1]
    assert failed.session_id is None and failed.error is not None and failed.error.type == "agent_archived_error"
    paused = client.beta.deployments.retrieve(doomed.id)
    assert paused.status == "paused" and paused.paused_reason is not None and paused.paused_reason.type == "error"
    assert paused.paused_reason.error.type == "agent_archived_error"  # type: ignore[union-attr]
    described = describe_schedule(stack.temporal_address, doomed.id)
    assert described is not None and described.schedule.state.paused, "the error paused the Temporal schedule too"

    assert list(client.beta.deployment_runs.list(deployment_id=held.id)) == [], "a paused deployment does not fire"
    # Temporal's scheduler handles a minute a moment after it: an unpause within that moment (a fast first turn gets
    # here at hh:mm:00.x) would still take the paused minute. Unpause once it is surely behind the scheduler.
    while datetime.now(UTC) < first_minute + SCHEDULER_LAG:
        time.sleep(0.1)
    client.beta.deployments.unpause(held.id)
    resumed_minute = next_minute(datetime.now(UTC))
    resumed = wait_for_runs(client, held.id, 1, resumed_minute + PATIENCE)
    assert resumed[0].trigger_context.scheduled_at >= resumed_minute - timedelta(minutes=1)
    assert resumed[0].trigger_context.scheduled_at > first_minute, "nothing was made up for the paused minutes"
    assert len(list(client.beta.deployment_runs.list(deployment_id=doomed.id))) == 1, "paused by its error"
    for deployment in (firing, held, doomed):
        client.beta.deployments.archive(deployment.id)
        assert describe_schedule(stack.temporal_address, deployment.id) is None
    runs = list(client.beta.deployment_runs.list(deployment_id=firing.id))
    minutes = [r.trigger_context.scheduled_at for r in runs]
    assert len(minutes) == len(set(minutes)), "one run per scheduled time"
