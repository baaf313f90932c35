"""Scheduled work when workers die: a worker SIGKILLed in the middle of a deployment's fire still yields exactly one
run and one session, and a one-shot wakeup armed before a worker restart (over REST, or by the model's `wake_me` tool)
still fires afterwards.

Workers are real ``dma worker`` subprocesses (``tests/processes.py``). To kill the fire at a known point, the test
holds the deployment's row (PostgreSQL) or the database's write lock (SQLite) so the fire's activity is stuck in its
first transaction; the worker dies there, the lock goes, and a second worker retries the activity.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import psycopg
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from dma.temporal import connect_client
from tests.api.mcp_helpers import of_type, send, turns_ended, wait_until
from tests.api.test_deployments import deploy
from tests.api.test_wakeup_tools import call, wakeup_agent
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session, wait_for_idle_events
from tests.processes import DmaProcess
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

YEARLY = {"type": "cron", "expression": "0 0 1 1 *", "timezone": "UTC"}


@pytest.fixture
def api_quick(stack: Stack, temporal_server: TemporalDevServer, model_server: FakeModelServer) -> Iterator[Stack]:
    """An API on the suite's database, no worker, and wakeups allowed a second apart."""
    directory = traversable_dir("dma-api-quick-")
    overrides = {"wakeup_min_interval_seconds": 1}
    running = Stack(
        stack.database_url, temporal_server.address, model_server.url, directory, with_worker=False,
        api_overrides=overrides,
    ).start()  # fmt: skip
    yield running
    running.stop()
    shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def holding(database_url: str, deployment_id: str) -> Iterator[Any]:
    """Block every write to the deployment's row until released (the context yields a release function)."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        release = conn.rollback
    else:
        pg = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
        pg.execute("SELECT id FROM deployments WHERE id = %s FOR UPDATE", (deployment_id,))
        conn, release = pg, pg.rollback
    try:
        yield release
    finally:
        release()
        conn.close()


def _run(address: str, use: Any) -> Any:
    async def go() -> Any:
        return await use(await connect_client(address, "default"))

    return asyncio.run(go())


def trigger(address: str, deployment_id: str) -> None:
    async def use(client: Client) -> None:
        await client.get_schedule_handle(deployment_id).trigger()

    _run(address, use)


def fire_activity(address: str, deployment_id: str) -> tuple[str | None, int]:
    """The fire workflow's id and its pending activity's state (0 when none is pending)."""

    async def use(client: Client) -> tuple[str | None, int]:
        async for execution in client.list_workflows(f"DeploymentId = '{deployment_id}'"):
            described = await client.get_workflow_handle(execution.id).describe()
            pending = described.raw_description.pending_activities
            return execution.id, (pending[0].state if pending else 0)
        return None, 0

    return _run(address, use)


def attempts(address: str, workflow_id: str) -> int:
    async def use(client: Client) -> int:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
        return max(e.activity_task_started_event_attributes.attempt for e in started)

    return _run(address, use)


@pytest.mark.timeout(180)
def test_worker_killed_mid_fire_still_one_run_and_one_session(api_quick: Stack, tmp_path: Path) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_quick.base_url, _strict_response_validation=True)
    first = DmaProcess(["worker"], api_quick.worker_env(), tmp_path / "worker1.log").start()
    second = DmaProcess(["worker"], api_quick.worker_env(), tmp_path / "worker2.log")
    try:
        deployment = deploy(client, schedule=YEARLY)
        with holding(api_quick.database_url, deployment.id) as release:
            trigger(api_quick.temporal_address, deployment.id)
            deadline = time.monotonic() + 60
            workflow_id, state = fire_activity(api_quick.temporal_address, deployment.id)
            while state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                assert time.monotonic() < deadline, "the fire's activity never started"
                time.sleep(0.1)
                workflow_id, state = fire_activity(api_quick.temporal_address, deployment.id)
            time.sleep(0.5)  # the activity is inside its first transaction, waiting for the lock
            first.kill()
            release()
        second.start()
        deadline = time.monotonic() + 60
        while not list(client.beta.deployment_runs.list(deployment_id=deployment.id)):
            assert time.monotonic() < deadline, "the fire was never retried"
            time.sleep(0.2)
        run = next(iter(client.beta.deployment_runs.list(deployment_id=deployment.id)))
        events = wait_for_idle_events(client, run.session_id or "", 1, timeout=60)
    finally:
        first.kill()
        second.stop()
    assert workflow_id is not None and attempts(api_quick.temporal_address, workflow_id) >= 2, "killed mid-fire"
    runs = list(client.beta.deployment_runs.list(deployment_id=deployment.id))
    sessions = list(client.beta.sessions.list(deployment_id=deployment.id))
    assert len(runs) == 1 and len(sessions) == 1 and runs[0].session_id == sessions[0].id
    assert runs[0].trigger_context.type == "schedule"
    assert [e.type for e in events].count("user.message") == 1
    assert any(e.type == "agent.message" for e in events)


@pytest.mark.timeout(120)
def test_a_one_shot_wakeup_survives_a_worker_restart(
    api_quick: Stack, model_server: FakeModelServer, tmp_path: Path
) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_quick.base_url, _strict_response_validation=True)
    first = DmaProcess(["worker"], api_quick.worker_env(), tmp_path / "worker1.log").start()
    second = DmaProcess(["worker"], api_quick.worker_env(), tmp_path / "worker2.log")
    try:
        session = make_session(client)
        with httpx.Client(base_url=api_quick.base_url, headers={"x-api-key": API_KEY}) as http:
            response = http.post(
                f"/v1/sessions/{session.id}/wakeups", json={"reason": "after restart", "in_seconds": 4}
            )
            assert response.status_code == 200, response.text
        time.sleep(1.0)  # the worker took the workflow task that armed the timer
        first.kill()
        time.sleep(4.0)  # the timer comes due while no worker runs
        second.start()
        events = wait_for_idle_events(client, session.id, 1, timeout=60)
    finally:
        first.kill()
        second.stop()
    system = next(e for e in events if e.type == "system.message")
    assert "after restart" in system.content[0].text
    assert [r for r in model_server.requests if "after restart" in str(r.body.get("messages"))]


@pytest.mark.timeout(120)
def test_a_wakeup_the_model_asked_for_survives_a_worker_restart(
    api_quick: Stack, model_server: FakeModelServer, tmp_path: Path
) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api_quick.base_url, _strict_response_validation=True)
    # The worker's own limit (the tools run there): one-shot wakeups at least 3 seconds away.
    env = {**api_quick.worker_env(), "DMA_WAKEUP_MIN_INTERVAL_SECONDS": "3"}
    first = DmaProcess(["worker"], env, tmp_path / "worker1.log").start()
    second = DmaProcess(["worker"], env, tmp_path / "worker2.log")
    try:
        session = make_session(client, agent=wakeup_agent(client).id)
        too_soon = call("wake_me", {"reason": "too soon", "in_seconds": 1})
        send(client, session.id, too_soon + call("wake_me", {"reason": "after the restart", "in_seconds": 6}))
        events = wait_until(client, session.id, turns_ended(1), timeout=40)
        first.kill()
        refused, armed = of_type(events, "agent.mcp_tool_result")
        assert refused.is_error is True and "wakeup_min_interval_seconds" in refused.content[0].text
        assert armed.is_error is False
        time.sleep(6.0)  # the timer comes due while no worker runs
        second.start()
        events = wait_until(client, session.id, turns_ended(2), timeout=60)
    finally:
        first.kill()
        second.stop()
    system = next(e for e in events if e.type == "system.message")
    assert "after the restart" in system.content[0].text and "too soon" not in system.content[0].text
    assert [r for r in model_server.requests if "Reason: after the restart" in str(r.body.get("messages"))]
