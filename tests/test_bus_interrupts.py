"""Interrupts on the bus between processes: a worker takes them (and only them), an API takes everything.

Each bus object stands for one process (its own socket, or its own NOTIFY origin); the messages travel through the
real transport, Unix sockets in the data dir or PostgreSQL ``LISTEN/NOTIFY``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dma.bus import INTERRUPT_KINDS, STREAM_KINDS, Bus, BusMessage, Subscription
from dma.bus_pg import PgBus
from dma.bus_socket import SocketBus
from tests.conftest import postgres_admin_url

SESSION = "sesn_bus_interrupts"


@pytest.fixture(params=["sockets", "postgres"])
async def processes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Bus, Bus, Bus]]:
    """An API, a worker and a second worker (the publisher), as their buses."""
    if request.param == "sockets":
        api: Bus = SocketBus(tmp_path, listen=True)
        worker: Bus = SocketBus(tmp_path, listen=False, interrupts=True)
        other: Bus = SocketBus(tmp_path, listen=False, interrupts=True)
    else:
        url = postgres_admin_url()
        api, worker, other = PgBus(url), PgBus(url), PgBus(url)
    for bus in (api, worker, other):
        await bus.start()
    await asyncio.sleep(0.3)  # the PostgreSQL listeners are connected
    yield api, worker, other
    for bus in (api, worker, other):
        await bus.close()


async def rung(subscription: Subscription, seconds: float = 5.0) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await subscription.rang.wait()
    except TimeoutError:
        return False
    return True


async def test_an_interrupt_reaches_the_worker_and_previews_do_not(processes: tuple[Bus, Bus, Bus]) -> None:
    api, worker, other = processes
    with (
        worker.subscribe(SESSION, INTERRUPT_KINDS) as interrupts,
        worker.subscribe(SESSION, STREAM_KINDS) as worker_stream,
        api.subscribe(SESSION) as api_stream,
    ):
        other.publish(BusMessage(SESSION, "delta", {"frame": {"type": "event_delta"}}))
        other.publish(BusMessage(SESSION, "doorbell"))
        assert await rung(api_stream)
        await asyncio.sleep(0.3)
        assert not interrupts.rang.is_set(), "a preview or doorbell is no interrupt"
        api.publish(BusMessage(SESSION, "interrupt"))
        assert await rung(interrupts)
        assert interrupts.queue.get_nowait().kind == "interrupt"
    if isinstance(worker, SocketBus):
        # A worker's socket is sent interrupts only: nothing else of another process ever reaches it.
        assert not worker_stream.rang.is_set()


async def test_a_stream_reader_never_sees_an_interrupt(processes: tuple[Bus, Bus, Bus]) -> None:
    api, _, other = processes
    with api.subscribe(SESSION) as stream, api.subscribe(SESSION, INTERRUPT_KINDS) as interrupts:
        other.publish(BusMessage(SESSION, "interrupt"))
        assert await rung(interrupts)
        await asyncio.sleep(0.2)
        assert not stream.rang.is_set() and stream.queue.empty()
