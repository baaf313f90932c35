"""One-shot wakeups in ``SessionWorkflow``: durable timers that fire ``fire_wakeup`` at their time, can be cancelled,
fire during a turn, and survive continue-as-new (fake activities under the real declarations, real Temporal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.stack import TemporalDevServer
from tests.workflows.fakes import DONE, Fakes, calls_tools, eventually, running, start_session, uses
from workflows.contracts import Delivery, FireWakeupRequest, WakeupCancel, WakeupTimer
from workflows.session import SessionWorkflow


@pytest.fixture
async def temporal(temporal_server: TemporalDevServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)


def fired(fakes: Fakes) -> list[FireWakeupRequest]:
    return fakes.called("fire_wakeup")


async def test_a_timer_fires_at_its_time_and_a_cancelled_one_never(temporal: Client) -> None:
    fakes = Fakes()
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 1)
        started = (await handle.describe()).start_time
        soon = WakeupTimer(wakeup_id="wake_soon", fire_at=started + timedelta(seconds=3))
        never = WakeupTimer(wakeup_id="wake_never", fire_at=started + timedelta(seconds=2))
        await handle.signal(SessionWorkflow.arm_wakeup, soon)
        await handle.signal(SessionWorkflow.arm_wakeup, never)
        await handle.signal(SessionWorkflow.cancel_wakeup, WakeupCancel(wakeup_id="wake_never"))
        await eventually(lambda: len(fired(fakes)) == 1, timeout=15)
        assert fired(fakes)[0].wakeup_id == "wake_soon"
        assert fired(fakes)[0].scheduled_at == soon.fire_at
        history = await handle.fetch_history()
        timers = [e for e in history.events if e.HasField("timer_fired_event_attributes")]
        assert timers, "the wakeup waited on a durable Temporal timer"


async def test_a_timer_fires_while_a_turn_runs(temporal: Client) -> None:
    fakes = Fakes(replies=[calls_tools(uses("bash")), DONE], tool_seconds={"bash": 4.0})
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.tool_runs) == 1)
        started = (await handle.describe()).start_time
        await handle.signal(SessionWorkflow.arm_wakeup, WakeupTimer(wakeup_id="w1", fire_at=started))
        await eventually(lambda: len(fired(fakes)) == 1, timeout=15)
        assert fakes.tool_runs[0].ended == 0.0, "the wakeup fired while the turn's tool was still running"
        await eventually(lambda: len(fakes.called("model_step")) == 2, timeout=15)


async def test_timers_survive_continue_as_new(temporal: Client) -> None:
    fakes = Fakes(replies=[DONE, DONE])
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=[]), turns_per_run=1)
        started = (await handle.describe()).start_time
        timer = WakeupTimer(wakeup_id="wake_late", fire_at=started + timedelta(seconds=4))
        await handle.signal(SessionWorkflow.arm_wakeup, timer)
        await handle.signal(SessionWorkflow.deliver, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 1)
        await eventually(lambda: len(set(fakes.run_ids)) == 2 or len(fired(fakes)) == 1, timeout=15)
        await eventually(lambda: len(fired(fakes)) == 1, timeout=15)
        runs = fakes.run_ids
        assert runs[0] != runs[-1], "the timer fired in the run after continue-as-new"
