"""``fire_deployment`` run twice for the same fire (a worker that died after the commit, before or after delivering):
the second attempt finds the run, creates nothing, and delivers the same event ids, so the session has one turn."""

from __future__ import annotations

from datetime import UTC, datetime

import anthropic
from temporalio.testing import ActivityEnvironment

from activities.deployments import DeploymentActivities
from dma.temporal import connect_client
from tests.api.test_deployments import deploy
from tests.helpers import wait_for_idle_events
from tests.stack import Stack
from workflows.contracts import FireDeploymentReply, FireDeploymentRequest
from workflows.session_entry import SessionLaunch


def fire_twice(stack: Stack, request: FireDeploymentRequest) -> list[FireDeploymentReply]:
    async def go() -> list[FireDeploymentReply]:
        assert stack.db is not None and stack.bus is not None
        temporal = await connect_client(stack.temporal_address, "default")
        launch = SessionLaunch(stack.task_queue, continue_as_new_after_turns=2, model_max_attempts=3)
        activities = DeploymentActivities(stack.db, stack.bus, temporal, launch)
        environment = ActivityEnvironment()
        return [await environment.run(activities.fire_deployment, request) for _ in range(2)]

    return stack.run(go())


def test_a_repeated_fire_records_one_run_and_delivers_once(client: anthropic.Anthropic, stack: Stack) -> None:
    deployment = deploy(client, schedule={"type": "cron", "expression": "0 0 1 1 *", "timezone": "UTC"})
    at = datetime(2031, 1, 1, tzinfo=UTC)
    first, second = fire_twice(stack, FireDeploymentRequest(deployment_id=deployment.id, scheduled_at=at))
    assert first.run_id is not None and first == second
    runs = list(client.beta.deployment_runs.list(deployment_id=deployment.id))
    assert [r.id for r in runs] == [first.run_id] and runs[0].trigger_context.scheduled_at == at
    assert [s.id for s in client.beta.sessions.list(deployment_id=deployment.id)] == [first.session_id]
    events = wait_for_idle_events(client, first.session_id or "", 1)
    assert [e.type for e in events].count("user.message") == 1
    assert [e.type for e in events].count("agent.message") == 1


def test_a_fire_of_a_paused_deployment_records_nothing(client: anthropic.Anthropic, stack: Stack) -> None:
    deployment = deploy(client, schedule={"type": "cron", "expression": "0 0 1 1 *", "timezone": "UTC"})
    client.beta.deployments.pause(deployment.id)
    at = datetime(2031, 1, 1, tzinfo=UTC)
    replies = fire_twice(stack, FireDeploymentRequest(deployment_id=deployment.id, scheduled_at=at))
    assert replies == [FireDeploymentReply(), FireDeploymentReply()]
    assert list(client.beta.deployment_runs.list(deployment_id=deployment.id)) == []
