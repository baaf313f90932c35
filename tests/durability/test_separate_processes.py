"""``dma api`` and ``dma worker`` as separate processes on the default SQLite: streams get deltas and doorbells.

The SSE poll is set to 5 s, so persisted events that reach the client well within it came by the doorbell.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.conftest import new_database
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session, user_message
from tests.processes import DmaProcess
from tests.stack import API_KEY, SECRET_KEY, TemporalDevServer, free_port, traversable_dir

POLL_SECONDS = 5.0


@pytest.fixture
def separate(temporal_server: TemporalDevServer, model_server: FakeModelServer, tmp_path: Path) -> Iterator[str]:
    """The base URL of a ``dma api`` whose turns run in a separate ``dma worker``, both on one SQLite file."""
    directory = traversable_dir("dma-separate-")
    url, drop = new_database("sqlite", directory)
    port = free_port()
    env = {
        **os.environ,
        "DMA_DATA_DIR": str(directory),
        "DMA_DATABASE_URL": url,
        "DMA_TEMPORAL_ADDRESS": temporal_server.address,
        "DMA_TASK_QUEUE": f"separate-{port}",
        "DMA_API_KEYS": API_KEY,
        "DMA_SECRET_KEY": SECRET_KEY,
        "DMA_PORT": str(port),
        "DMA_SSE_POLL_SECONDS": str(POLL_SECONDS),
        "ANTHROPIC_API_KEY": "fake-key",
        "ANTHROPIC_BASE_URL": model_server.url,
    }
    api = DmaProcess(["api"], env, tmp_path / "api.log").start(wait_port=port)
    worker = DmaProcess(["worker"], env, tmp_path / "worker.log").start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        worker.stop()
        api.stop()
        drop()
        shutil.rmtree(directory, ignore_errors=True)


def _received(stream: Any) -> list[tuple[Any, float]]:
    seen: list[tuple[Any, float]] = []
    for event in stream:
        seen.append((event, time.time()))
        if event.type == "session.status_idle":
            return seen
    return seen


def test_separate_api_and_worker_stream_deltas_and_ring_doorbells(separate: str) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=separate, _strict_response_validation=True)
    session = make_session(client)
    with client.beta.sessions.events.stream(session.id, event_deltas=["agent.message"]) as stream:
        client.beta.sessions.events.send(session.id, events=[user_message("[[slow:1]] [[long:40]] a story")])
        events = [event for event, _ in _received(stream)]
        deltas = [e for e in events if e.type == "event_delta"]
        message = next(e for e in events if e.type == "agent.message")
        assert deltas, [e.type for e in events]
        assert message.content[0].text.startswith("".join(d.delta.content.text for d in deltas))
        # The second turn runs on a warm worker, so an event's processed_at is close to its commit.
        client.beta.sessions.events.send(session.id, events=[user_message("[[slow:1]] another")])
        received = _received(stream)
    latencies = [at - event.processed_at.timestamp() for event, at in received if getattr(event, "processed_at", None)]
    assert len(latencies) >= 6  # user.message, running, span start, agent.message, span end, usage, idle
    # A poll would take up to 5 s; a doorbell takes milliseconds.
    assert max(latencies) < POLL_SECONDS / 2, latencies
    assert statistics.median(latencies) < 0.1, latencies
