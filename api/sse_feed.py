"""One log reader per session per API process, shared by every SSE connection to that session.

A ``SessionFeed`` holds the session's bus subscription, wakes on its doorbell (and on a slow poll, the safety net for
a lost doorbell), reads the rows committed since its cursor with one query, and hands each frame to every
``Listener``: N clients of one session cost one query per commit, not N. Fan-out never waits: each listener has a
bounded buffer, and a listener that falls ``LISTENER_BUFFER`` frames behind is dropped (its connection closes; the
client reconnects with ``Last-Event-ID`` and loses nothing), so one slow client cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dma.bus import Bus, BusMessage, Subscription
from dma.clock import rfc3339, utcnow
from dma.ids import new_id
from dma.store import events as log
from dma.store import sessions as store
from dma.store.engine import Database

# After these the session takes no more events, so the stream ends (API_CONTRACT.md §2.4).
STREAM_ENDING_TYPES = frozenset({"session.deleted", "session.status_terminated"})
# A deletion reaches the feed on the bus at once (api/routes/sessions.py publishes it); this read only catches one whose
# bus message was lost. Every 2 s it was 50 reads a second at 100 streamed sessions, about 3 per turn of a busy server.
EXISTENCE_CHECK_SECONDS = 15.0
# Frames a listener may have waiting before it is dropped: a whole long reply's deltas fit several times over.
LISTENER_BUFFER = 5000
# A stream that sent nothing for this long gets an ``event: ping`` (proxies and clients drop silent connections).
PING_SECONDS = 15.0
# How often the hub looks for streams that are due a ping: one timer for all of them, not one per stream and wait
# (a per-wait timeout was the largest cost after the socket write in a fan-out to 2,000 streams).
HEARTBEAT_CHECK_SECONDS = 1.0
ROW_PAGE = 500
RETRY_SECONDS = 1.0
logger = logging.getLogger(__name__)


def frame(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One SSE frame."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@dataclass(frozen=True)
class Outgoing:
    """One frame for the listeners, with what each needs to decide whether it is theirs.

    ``seq``: a persisted row's stream position (a listener skips rows it already sent). ``preview_of``/``target``:
    a preview's event type (sent only to listeners that asked for it) and the id of the event it previews.
    """

    text: str
    seq: int | None = None
    event_id: str | None = None
    preview_of: str | None = None
    target: str | None = None
    ends: bool = False


def deleted_frame(message: BusMessage | None) -> Outgoing:
    """The ``session.deleted`` frame that ends every stream of a deleted session."""
    data = dict(message.data) if message is not None else {}
    data.setdefault("id", new_id("sevt"))
    data["type"] = "session.deleted"
    data["processed_at"] = data.get("processed_at") or rfc3339(utcnow())
    return Outgoing(frame("session.deleted", data, data["id"]), ends=True)


class LogReader:
    """Reads one session's new rows and drains its previews, keeping previews ahead of the rows they preview."""

    def __init__(self, db: Database, session_id: str, subscription: Subscription, cursor: int) -> None:
        self.db = db
        self.session_id = session_id
        self.subscription = subscription
        self.cursor = cursor
        # Ids already sent as rows: a preview arriving after its message is stale and dropped.
        self.persisted: set[str] = set()

    def previews(self) -> tuple[list[Outgoing], BusMessage | None]:
        """Queued previews, and a deletion notice if one arrived."""
        items: list[Outgoing] = []
        queue = self.subscription.queue
        while not queue.empty():
            message = queue.get_nowait()
            if message.kind == "deleted":
                return items, message
            data = message.data.get("frame", {})
            target = data.get("event", {}).get("id") or data.get("event_id")
            if target not in self.persisted:
                preview_of = message.data.get("for")
                text = frame(str(data.get("type")), data)
                items.append(Outgoing(text, preview_of=str(preview_of), target=target))
        return items, None

    async def persisted_frames(self) -> tuple[list[Outgoing], bool]:
        """New rows, and whether the stream ends with them.

        Previews that arrived while the rows were read go out first: a whole fast reply can commit during one read,
        and its previews, published before the commit, must still precede the message they preview.
        """
        async with self.db.read() as db:
            rows = await log.visible_after(db, self.session_id, self.cursor, ROW_PAGE)
        items, deleted = self.previews()
        if deleted is not None:
            return [*items, deleted_frame(deleted)], True
        for row in rows:
            self.cursor = row.seq or self.cursor
            self.persisted.add(row.id)
            ends = row.type in STREAM_ENDING_TYPES
            items.append(Outgoing(frame(row.type, log.wire(row), row.id), seq=row.seq, event_id=row.id, ends=ends))
            if ends:
                return items, True
        return items, False

    async def session_exists(self) -> bool:
        async with self.db.read() as db:
            return await store.get(db, self.session_id) is not None


@dataclass(eq=False)
class Listener:
    """One SSE connection's view of a feed: a bounded buffer of frames and where the connection is in the log."""

    session_id: str
    previews: frozenset[str]
    cursor: int
    limit: int = LISTENER_BUFFER
    dropped: bool = False
    # Rows up to here the connection reads itself (it joined behind the feed); later ones come from the feed.
    catch_up_to: int = 0
    items: deque[Outgoing] = field(default_factory=deque[Outgoing])
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    feed: SessionFeed | None = None
    # When the heartbeat last saw the connection with something to send (frames or a ping), on the loop's clock.
    last_given: float = 0.0
    given: bool = False
    ping_due: bool = False

    def offer(self, batch: Iterable[Outgoing]) -> None:
        """Take frames without waiting; past ``limit`` waiting frames the listener is dropped."""
        if self.dropped:
            return
        taken = False
        for item in batch:
            if item.preview_of is not None and item.preview_of not in self.previews:
                continue
            if len(self.items) >= self.limit:
                self.dropped = True
                self.items.clear()
                break
            self.items.append(item)
            taken = True
        if taken or self.dropped:
            self.given = True
            self.ready.set()

    def heartbeat(self, now: float) -> None:
        """Wake the connection with nothing to send (it sends a ping) when it was given nothing for ``PING_SECONDS``."""
        if self.given or self.items or self.ping_due:
            self.given = False  # frames came since the last look (no clock read per frame in a fan-out)
            self.last_given = now
        elif now - self.last_given >= PING_SECONDS:
            self.last_given = now
            self.ping_due = True
            self.ready.set()

    async def next_batch(self, timeout: float | None = None) -> list[Outgoing]:
        """What arrived since the last call (empty: a ping is due, or ``timeout`` passed with nothing).

        Streams wait without a timeout of their own: the hub's heartbeat (``StreamHub``) wakes them for pings.
        """
        if not self.items and not self.dropped and not self.ping_due:
            if timeout is None:
                await self.ready.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self.ready.wait()
        self.ready.clear()
        self.ping_due = False
        batch = list(self.items)
        self.items.clear()
        return batch


class SessionFeed:
    """The one reader of a session in this process, running while it has listeners."""

    def __init__(self, hub: StreamHub, db: Database, bus: Bus, session_id: str, cursor: int, poll: float) -> None:
        self.hub = hub
        self.session_id = session_id
        self.poll_seconds = poll
        self.listeners: set[Listener] = set()
        self._subscription_cm = bus.subscribe(session_id)
        subscription: Subscription = self._subscription_cm.__enter__()
        self.subscription = subscription
        self.reader = LogReader(db, session_id, subscription, cursor)
        self.ended = False
        self.task = asyncio.create_task(self._run(), name=f"sse-feed-{session_id}")

    def _fan_out(self, items: list[Outgoing]) -> None:
        if items:
            for listener in list(self.listeners):
                listener.offer(items)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_check = loop.time()
        try:
            while True:
                self.subscription.rang.clear()
                try:
                    ended = await self._step()
                except Exception:  # noqa: BLE001 - a failed read (DB blip) is retried; the listeners keep waiting
                    logger.exception("SSE feed of %s failed to read; retrying", self.session_id)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if ended is None:
                    continue  # a full page: read on at once
                if ended:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.subscription.rang.wait(), timeout=self.poll_seconds)
                now = loop.time()
                if now - last_check >= EXISTENCE_CHECK_SECONDS:
                    last_check = now
                    if not await self._exists():
                        self._fan_out([deleted_frame(None)])
                        return
        finally:
            self.ended = True
            self.hub.forget(self)
            self._subscription_cm.__exit__(None, None, None)

    async def _exists(self) -> bool:
        """Whether the session is still there (a failed check says yes: the next one asks again)."""
        try:
            return await self.reader.session_exists()
        except Exception:  # noqa: BLE001 - a DB blip must not end every stream of the session
            logger.exception("SSE feed of %s could not check the session; retrying", self.session_id)
            return True

    async def _step(self) -> bool | None:
        """One round: previews, then new rows. True: the stream ended; None: more rows are waiting."""
        previews, deleted = self.reader.previews()
        self._fan_out(previews)
        if deleted is not None:
            self._fan_out([deleted_frame(deleted)])
            return True
        items, ended = await self.reader.persisted_frames()
        self._fan_out(items)
        if ended:
            return True
        rows = sum(1 for item in items if item.seq is not None)
        return None if rows >= ROW_PAGE else False


class StreamHub:
    """This API process's feeds, one per session that has open streams."""

    def __init__(self) -> None:
        self._feeds: dict[str, SessionFeed] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        """Every ``HEARTBEAT_CHECK_SECONDS`` while any feed runs: wake the streams that are due a ping."""
        loop = asyncio.get_running_loop()
        try:
            while self._feeds:
                await asyncio.sleep(HEARTBEAT_CHECK_SECONDS)
                now = loop.time()
                for feed in list(self._feeds.values()):
                    for listener in list(feed.listeners):
                        listener.heartbeat(now)
        finally:
            self._heartbeat = None  # however it ended, the next stream to join starts another

    def join(
        self, db: Database, bus: Bus, session_id: str, previews: frozenset[str], after: int, poll: float
    ) -> Listener:
        """A listener for a stream resuming after position ``after``, registered before this returns.

        A connection that joins behind the feed's cursor reads the rows in between itself (``catch_up_to``); every
        later row reaches it through the feed, so nothing falls between the two.
        """
        feed = self._feeds.get(session_id)
        if feed is None or feed.ended:
            feed = self._feeds[session_id] = SessionFeed(self, db, bus, session_id, after, poll)
        cursor = feed.reader.cursor
        listener = Listener(session_id, previews, after, limit=LISTENER_BUFFER, catch_up_to=cursor, feed=feed)
        listener.last_given = asyncio.get_running_loop().time()
        feed.listeners.add(listener)
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(), name="sse-heartbeat")
        return listener

    def leave(self, listener: Listener) -> None:
        """Remove a listener; the feed stops with its last one."""
        feed = listener.feed
        if feed is None:
            return
        listener.feed = None
        feed.listeners.discard(listener)
        if not feed.listeners and not feed.ended:
            # Gone from the map at once: a connection arriving while the task unwinds gets a fresh feed.
            feed.ended = True
            self.forget(feed)
            feed.task.cancel()

    def forget(self, feed: SessionFeed) -> None:
        """Called by a feed as it stops."""
        if self._feeds.get(feed.session_id) is feed:
            del self._feeds[feed.session_id]
            for listener in feed.listeners:
                listener.dropped = listener.dropped or not any(item.ends for item in listener.items)
                listener.ready.set()

    async def close(self) -> None:
        """Stop every feed (the app is shutting down)."""
        feeds = list(self._feeds.values())
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for feed in feeds:
            feed.task.cancel()
        for feed in feeds:
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task

    def feeds(self) -> int:
        """How many sessions have a running feed (for tests and metrics)."""
        return len(self._feeds)

    def heartbeating(self) -> bool:
        """Whether the heartbeat task runs (it stops with the last feed)."""
        return self._heartbeat is not None

    def listeners(self, session_id: str) -> int:
        """How many connections listen to the session's feed (for tests and metrics)."""
        feed = self._feeds.get(session_id)
        return 0 if feed is None else len(feed.listeners)
