"""The session event stream (API_CONTRACT.md §2.4): persisted events from the DB, previews from the bus.

Readers wake on a bus doorbell and also poll, so a lost doorbell (another process on SQLite) costs latency only.
Every frame carries ``event:`` (the SDK drops frames without one); heartbeats are ``event: ping``. Beyond the
contract, ``Last-Event-ID`` / ``?after=`` resume after a persisted event, so a reconnecting client loses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.deps import AppState
from dma.bus import BusMessage, Subscription
from dma.clock import rfc3339, utcnow
from dma.ids import new_id
from dma.store import events as log
from dma.store import sessions as store

PING_SECONDS = 15.0
# After these the session takes no more events, so the stream ends (API_CONTRACT.md §2.4).
STREAM_ENDING_TYPES = frozenset({"session.deleted", "session.status_terminated"})
EXISTENCE_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class StreamOptions:
    """What one stream connection asked for."""

    session_id: str
    previews: frozenset[str]
    after_seq: int
    poll_seconds: float


def frame(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One SSE frame."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _deleted_frame(message: BusMessage | None) -> str:
    data = dict(message.data) if message is not None else {}
    data.setdefault("id", new_id("sevt"))
    data["type"] = "session.deleted"
    data["processed_at"] = data.get("processed_at") or rfc3339(utcnow())
    return frame("session.deleted", data, data["id"])


class _Reader:
    """The state of one open stream."""

    def __init__(self, state: AppState, options: StreamOptions, subscription: Subscription) -> None:
        self.state = state
        self.options = options
        self.subscription = subscription
        self.cursor = options.after_seq
        self.persisted: set[str] = set()

    def previews(self) -> tuple[list[str], BusMessage | None]:
        """Queued previews the client opted into, and a deletion notice if one arrived."""
        frames: list[str] = []
        queue = self.subscription.queue
        while not queue.empty():
            message = queue.get_nowait()
            if message.kind == "deleted":
                return frames, message
            preview_of = message.data.get("for")
            data = message.data.get("frame", {})
            target = data.get("event", {}).get("id") or data.get("event_id")
            if preview_of in self.options.previews and target not in self.persisted:
                frames.append(frame(str(data.get("type")), data))
        return frames, None

    async def persisted_frames(self) -> tuple[list[str], bool]:
        """New rows, and whether the stream ends with them.

        Previews that arrived while the rows were read go out first: a whole fast reply can commit during one read,
        and its previews, published before the commit, must still precede the message they preview.
        """
        async with self.state.db.read() as db:
            rows = await log.visible_after(db, self.options.session_id, self.cursor)
        frames, deleted = self.previews()
        if deleted is not None:
            return [*frames, _deleted_frame(deleted)], True
        for row in rows:
            self.cursor = row.seq or self.cursor
            self.persisted.add(row.id)
            frames.append(frame(row.type, log.wire(row), row.id))
            if row.type in STREAM_ENDING_TYPES:
                return frames, True
        return frames, False

    async def session_exists(self) -> bool:
        async with self.state.db.read() as db:
            return await store.get(db, self.options.session_id) is not None


async def stream_events(request: Request, state: AppState, options: StreamOptions) -> AsyncIterator[str]:
    """Yield frames until the client leaves or the session is deleted."""
    loop = asyncio.get_running_loop()
    with state.bus.subscribe(options.session_id) as subscription:
        reader = _Reader(state, options, subscription)
        yield ": stream open\n\n"
        last_ping = last_check = loop.time()
        while True:
            subscription.rang.clear()
            preview_frames, deleted = reader.previews()
            for item in preview_frames:
                yield item
            if deleted is not None:
                yield _deleted_frame(deleted)
                return
            persisted, ended = await reader.persisted_frames()
            for item in persisted:
                yield item
            if ended:
                return
            if persisted or not subscription.queue.empty():
                continue
            try:
                await asyncio.wait_for(subscription.rang.wait(), timeout=options.poll_seconds)
            except TimeoutError:
                pass
            now = loop.time()
            if now - last_check >= EXISTENCE_CHECK_SECONDS:
                last_check = now
                if await request.is_disconnected():
                    return
                if not await reader.session_exists():
                    yield _deleted_frame(None)
                    return
            if now - last_ping >= PING_SECONDS:
                last_ping = now
                yield frame("ping", {})
