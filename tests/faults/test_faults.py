"""Faults with 20 sessions mid-turn: a worker SIGKILLed, the API SIGKILLed under streaming clients, the Temporal
server restarted, PostgreSQL restarted. After each, every session must end its turn with its one ``agent.message``
intact, and every client's stream (reconnected with ``Last-Event-ID``) must equal the persisted log.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time

import pytest

from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults


async def test_worker_sigkilled_mid_model_call(rig: FaultRig) -> None:
    rig.start_api()
    first = rig.start_worker()
    async with rig.http() as http:
        watchers, tasks = await rig.start_turns(http)
        await rig.all_streaming(watchers)
        await asyncio.sleep(0.5)
        first.kill()
        rig.assert_all_mid_turn(watchers, time.monotonic())
        rig.start_worker()
        await rig.finish(tasks)
        await rig.check(http, watchers)
    for watcher in watchers:
        assert len(rig.requests_for(watcher.token)) >= 2, "the new worker never called the model again"


async def test_api_sigkilled_under_streaming_clients(rig: FaultRig) -> None:
    api = rig.start_api()
    rig.start_worker()
    async with rig.http() as http:
        watchers, tasks = await rig.start_turns(http)
        await asyncio.wait_for(asyncio.gather(*(w.running.wait() for w in watchers)), timeout=30)
        api.kill()
        assert not any(task.done() for task in tasks), "a turn ended before the API was killed"
        await asyncio.sleep(0.5)
        rig.start_api()
        await rig.finish(tasks)
        await rig.check(http, watchers)
    assert all(w.reconnects >= 1 for w in watchers), "a client never lost its stream: the kill came too late"


async def test_temporal_server_restarted(rig: FaultRig) -> None:
    rig.start_api()
    rig.start_worker()
    async with rig.http() as http:
        watchers, tasks = await rig.start_turns(http)
        await rig.all_streaming(watchers)
        await asyncio.sleep(0.5)
        rig.assert_all_mid_turn(watchers, time.monotonic())
        rig.temporal.stop()
        await asyncio.sleep(4.0)  # the replies finish while Temporal is down: completions must wait for it
        rig.temporal.start()
        await rig.finish(tasks)
        await rig.check(http, watchers)


def _pg_cluster(url: str) -> tuple[str, str]:
    """The local cluster (version, name) serving the test database's port."""
    port = re.search(r":(\d+)/", url)
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if port is not None and cluster_port == port.group(1):
            return version, name
    raise AssertionError(f"no local PostgreSQL cluster serves {url}: this test restarts it with pg_ctlcluster")


async def test_postgres_restarted(pg_rig: FaultRig) -> None:
    assert shutil.which("pg_ctlcluster"), "pg_ctlcluster (postgresql-common) is needed to restart PostgreSQL"
    version, name = _pg_cluster(os.environ["DMA_TEST_POSTGRES_URL"])
    pg_rig.start_api()
    pg_rig.start_worker()
    async with pg_rig.http() as http:
        watchers, tasks = await pg_rig.start_turns(http)
        await pg_rig.all_streaming(watchers)
        await asyncio.sleep(0.5)
        pg_rig.assert_all_mid_turn(watchers, time.monotonic())
        restart = await asyncio.create_subprocess_exec("pg_ctlcluster", version, name, "restart")
        assert await restart.wait() == 0, "pg_ctlcluster restart failed"
        await pg_rig.finish(tasks)
        await pg_rig.check(http, watchers)
