"""Many event streams of one session share one log reader (issue 14): one DB read per commit, not one per stream.

Against the real stack on both databases: every stream gets every event in order, the reads the turn causes do not
grow with the number of streams, and a stream resuming behind the shared reader catches up without gaps or repeats.
The slow-client test drives the feed directly: it needs a client that never reads, which TCP buffers would hide.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx
import pytest
from sqlalchemy import event

from api import sse_feed
from dma.bus import BusMessage, LocalBus
from dma.store.tables import SessionEvent
from tests.helpers import make_session, user_message
from tests.stack import API_KEY, Stack

STREAMS = 12
TURN_SECONDS = 60.0


@contextmanager
def counted_log_reads(stack: Stack, session_id: str) -> Iterator[list[str]]:
    """Every ``visible_after`` statement (the stream reader's query) the API runs for ``session_id``."""
    assert stack.db is not None
    engine = stack.db.reader.sync_engine
    seen: list[str] = []
    lock = threading.Lock()

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "session_events.seq >" in statement and "LIMIT" in statement.upper() and session_id in str(parameters):
            with lock:
                seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def _read_stream(
    http: httpx.AsyncClient, session_id: str, text: str, opened: asyncio.Event, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """The events of one stream up to the end of the turn that ``text`` started (its ``session.status_idle``)."""
    events: list[dict[str, Any]] = []
    sent = False
    path = f"/v1/sessions/{session_id}/events/stream"
    async with http.stream("GET", path, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                opened.set()
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if "type" not in data:
                    continue  # a heartbeat (``event: ping``, empty data): a slow machine can go 15 s without a frame
                events.append(data)
                sent = sent or (data["type"] == "user.message" and data["content"][0]["text"] == text)
                if sent and data["type"] == "session.status_idle":
                    return events
    return events


async def _turn_with_streams(
    stack: Stack, session_id: str, streams: int, text: str, headers: list[dict[str, str]] | None = None
) -> list[list[dict[str, Any]]]:
    auth = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=auth, timeout=TURN_SECONDS) as http:
        opened = [asyncio.Event() for _ in range(streams)]
        per_stream = headers or [{} for _ in range(streams)]
        readers = [_read_stream(http, session_id, text, o, h) for o, h in zip(opened, per_stream, strict=True)]
        tasks = [asyncio.create_task(reader) for reader in readers]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), TURN_SECONDS)
        body = {"events": [user_message(text)]}
        (await http.post(f"/v1/sessions/{session_id}/events", json=body)).raise_for_status()
        return list(await asyncio.wait_for(asyncio.gather(*tasks), TURN_SECONDS))


def _turn_ids(client: anthropic.Anthropic, session_id: str) -> list[str]:
    return [e.id for e in client.beta.sessions.events.list(session_id, limit=1000).data]


def test_many_streams_share_one_reader(client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    with counted_log_reads(stack, session.id) as reads:
        seen = asyncio.run(_turn_with_streams(stack, session.id, STREAMS, "hello"))
        one_turn_reads = len(reads)
    logged = _turn_ids(client, session.id)
    for events in seen:
        ids = [e["id"] for e in events]
        assert ids == logged[: len(ids)] and events[-1]["type"] == "session.status_idle"
    assert len({tuple(e["id"] for e in events) for events in seen}) == 1
    # One read per doorbell for all the streams: a per-stream reader would run at least STREAMS reads per commit.
    assert 1 <= one_turn_reads < STREAMS, one_turn_reads


def test_a_stream_resuming_behind_the_shared_reader_misses_nothing(client: anthropic.Anthropic, stack: Stack) -> None:
    session = make_session(client)
    asyncio.run(_turn_with_streams(stack, session.id, 1, "first"))
    first = _turn_ids(client, session.id)
    resume_from = first[1]
    # The live stream joins at the log's end; the resuming one joins behind it and must read the gap itself.
    live, resumed = asyncio.run(
        _turn_with_streams(stack, session.id, 2, "second", headers=[{}, {"last-event-id": resume_from}])
    )
    both = _turn_ids(client, session.id)
    assert [e["id"] for e in resumed] == both[2:]
    assert [e["id"] for e in live] == both[len(first) :]


async def _open_and_leave(stack: Stack, session_id: str, streams: int) -> int:
    """Open ``streams`` streams, wait until each has its opening comment, then drop the connections.

    Returns:
        How many listeners the session's feed had while they were open.
    """
    assert stack.app is not None
    hub = stack.app.state.dma.streams
    auth = {"authorization": f"Bearer {API_KEY}"}
    path = f"/v1/sessions/{session_id}/events/stream"
    async with httpx.AsyncClient(base_url=stack.base_url, headers=auth, timeout=TURN_SECONDS) as http:
        async with AsyncExitStack() as open_streams:
            readers: list[AsyncIterator[str]] = []  # held: a line iterator that is collected closes its response
            for _ in range(streams):
                response = await open_streams.enter_async_context(http.stream("GET", path))
                readers.append(response.aiter_lines())
                assert (await anext(readers[-1])).startswith(":")
            return int(hub.listeners(session_id))


def test_clients_that_leave_an_idle_stream_leave_its_feed(client: anthropic.Anthropic, stack: Stack) -> None:
    # The stream does not poll its connection between heartbeats: the server's disconnect notice must end it.
    session = make_session(client)
    assert stack.app is not None
    hub = stack.app.state.dma.streams
    assert asyncio.run(_open_and_leave(stack, session.id, 3)) == 3
    deadline = time.monotonic() + 10
    while hub.listeners(session.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.listeners(session.id) == 0


class _Db:
    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        yield None


def _row(seq: int) -> SessionEvent:
    body: dict[str, Any] = {"content": [{"type": "text", "text": f"row {seq}"}]}
    at = datetime.now(UTC)
    return SessionEvent(
        id=f"sevt_{seq:04d}", session_id="sesn_slow", seq=seq, type="agent.message", body=body, processed_at=at
    )


async def test_a_slow_listener_is_dropped_without_stalling_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[SessionEvent] = []
    reads: list[int] = []

    async def visible_after(_db: object, _session_id: str, after: int, limit: int) -> list[SessionEvent]:
        reads.append(after)
        return [row for row in rows if (row.seq or 0) > after][:limit]

    monkeypatch.setattr(sse_feed.log, "visible_after", visible_after)
    monkeypatch.setattr(sse_feed, "LISTENER_BUFFER", 10)
    bus, hub = LocalBus(), sse_feed.StreamHub()
    join = {"db": _Db(), "bus": bus, "session_id": "sesn_slow", "previews": frozenset[str](), "after": 0, "poll": 60.0}
    slow, fast = hub.join(**join), hub.join(**join)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await asyncio.sleep(0.05)
    reads.clear()
    received: list[int] = []
    for seq in range(1, 31):  # 30 commits, each rung; the slow listener never reads
        rows.append(_row(seq))
        bus.publish(BusMessage("sesn_slow", "doorbell"))
        received += [item.seq or 0 for item in await fast.next_batch(5.0)]
    assert received == list(range(1, 31)) and not fast.dropped
    assert slow.dropped and not slow.items
    assert len(reads) == 30  # one read per commit for both listeners
    hub.leave(slow)
    hub.leave(fast)
    assert hub.feeds() == 0


async def test_a_quiet_stream_is_woken_for_a_ping_and_a_busy_one_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[SessionEvent] = []

    async def visible_after(_db: object, _session_id: str, after: int, limit: int) -> list[SessionEvent]:
        return [row for row in rows if (row.seq or 0) > after][:limit]

    monkeypatch.setattr(sse_feed.log, "visible_after", visible_after)
    monkeypatch.setattr(sse_feed, "PING_SECONDS", 0.3)
    monkeypatch.setattr(sse_feed, "HEARTBEAT_CHECK_SECONDS", 0.02)
    bus, hub = LocalBus(), sse_feed.StreamHub()
    join = {"db": _Db(), "bus": bus, "session_id": "sesn_ping", "previews": frozenset[str](), "after": 0, "poll": 60.0}
    quiet = hub.join(**join)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(quiet.next_batch(), 5) == []  # woken with nothing: the stream sends a ping
    assert asyncio.get_running_loop().time() - started >= 0.3
    # Frames every 0.1 s keep the stream busy: every wake-up brings frames, none is a ping.
    for seq in range(1, 9):
        rows.append(_row(seq))
        bus.publish(BusMessage("sesn_ping", "doorbell"))
        batch = await asyncio.wait_for(quiet.next_batch(), 5)
        assert [item.seq for item in batch] == [seq]
        await asyncio.sleep(0.1)
    hub.leave(quiet)
    assert hub.feeds() == 0
    deadline = asyncio.get_running_loop().time() + 5
    while hub.heartbeating() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert not hub.heartbeating()  # the heartbeat stops with the last feed
