"""The session event stream (API_CONTRACT.md §2.4): persisted events from the DB, previews from the bus.

Each connection is a ``Listener`` of its session's one shared ``SessionFeed`` (``api.sse_feed``), which reads the
log once per doorbell for all of them. Every frame carries ``event:`` (the SDK drops frames without one); heartbeats
are ``event: ping``. Beyond the contract, ``Last-Event-ID`` / ``?after=`` resume after a persisted event, so a
reconnecting client (or one dropped for falling behind) loses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from api.deps import AppState
from api.sse_feed import PING_SECONDS, ROW_PAGE, STREAM_ENDING_TYPES, Listener, Outgoing, frame
from dma.store import events as log

__all__ = ["PING_SECONDS", "StreamOptions", "frame", "stream_events"]


@dataclass(frozen=True)
class StreamOptions:
    """What one stream connection asked for."""

    session_id: str
    previews: frozenset[str]
    after_seq: int
    poll_seconds: float


async def _catch_up(state: AppState, listener: Listener, sent: set[str]) -> AsyncIterator[tuple[str, bool]]:
    """The rows between where the connection resumes and where the shared feed was when it joined."""
    while listener.cursor < listener.catch_up_to:
        async with state.db.read() as db:
            rows = await log.visible_after(db, listener.session_id, listener.cursor, ROW_PAGE)
        if not rows:
            return
        for row in rows:
            listener.cursor = row.seq or listener.cursor
            sent.add(row.id)
            ends = row.type in STREAM_ENDING_TYPES
            yield frame(row.type, log.wire(row), row.id), ends
            if ends:
                return


def _unsent(listener: Listener, batch: list[Outgoing], sent: set[str]) -> tuple[list[str], bool]:
    """The frames of ``batch`` this connection has not sent, up to one that ends the stream (and whether one did)."""
    texts: list[str] = []
    for item in batch:
        if item.seq is not None:
            if item.seq <= listener.cursor:
                continue  # already sent while catching up
            listener.cursor = item.seq
        elif item.target is not None and item.target in sent:
            continue
        texts.append(item.text)
        if item.ends:
            return texts, True
    return texts, False


async def stream_events(state: AppState, options: StreamOptions) -> AsyncIterator[str]:
    """Yield frames until the client leaves, falls too far behind, or the session ends."""
    listener = state.streams.join(
        state.db, state.bus, options.session_id, options.previews, options.after_seq, options.poll_seconds
    )
    try:
        yield ": stream open\n\n"
        # Ids this connection read itself while catching up: a preview of one of them is stale.
        sent: set[str] = set()
        async for text, ends in _catch_up(state, listener, sent):
            yield text
            if ends:
                return
        while True:
            batch = await listener.next_batch()
            if listener.dropped:
                return  # too far behind (or the feed stopped): the client reconnects with Last-Event-ID
            if not batch:
                # No poll of the connection here: a client that left ends the stream by itself (Starlette cancels
                # it when the server reports the disconnect, and on ASGI 2.4 servers the send fails). Polling cost
                # anyio a cancel scope per idle stream per heartbeat (docs/performance.md "Seventh pass").
                yield frame("ping", {})
                continue
            texts, ends = _unsent(listener, batch, sent)
            if texts:
                # One write per wake-up, not one per frame: a fan-out to thousands of streams is thousands of sends.
                yield "".join(texts)
            if ends:
                return
    finally:
        state.streams.leave(listener)
