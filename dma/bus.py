"""The best-effort channel from activities to SSE readers (DESIGN.md §4).

Two kinds of message travel on it to SSE readers: a *doorbell* ("new rows for session X are committed, read the DB")
and *deltas* (``event_start`` / ``event_delta`` previews that are never persisted). A third goes the other way, from
the API to the worker running a session's model request: *interrupt* ("a ``user.interrupt`` was delivered to the
workflow"), which ends the request at once instead of at its next heartbeat. Correctness never depends on the bus:
SSE readers also poll the DB, and a model request also learns of an interrupt from Temporal's cancellation, so a
lost message costs latency, never an event.

``LocalBus`` serves one process (``dma dev``, tests). ``dma.bus_pg.PgBus`` carries the same messages between processes
through PostgreSQL ``LISTEN/NOTIFY``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

BusKind = Literal["doorbell", "delta", "deleted", "interrupt"]
BUS_KINDS: frozenset[str] = frozenset(get_args(BusKind))
# What an SSE reader subscribes to (the default), and what a running model request does.
STREAM_KINDS: frozenset[BusKind] = frozenset({"doorbell", "delta", "deleted"})
INTERRUPT_KINDS: frozenset[BusKind] = frozenset({"interrupt"})
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class BusMessage:
    """One message for the readers of a session's stream."""

    session_id: str
    kind: BusKind
    data: dict[str, Any] = field(default_factory=dict[str, Any])


class Subscription:
    """A reader's mailbox for one session's messages of ``kinds``. Full mailboxes drop deltas but keep doorbells."""

    def __init__(self, loop: asyncio.AbstractEventLoop, kinds: frozenset[BusKind] = STREAM_KINDS) -> None:
        self.loop = loop
        self.kinds = kinds
        self.queue: asyncio.Queue[BusMessage] = asyncio.Queue(QUEUE_LIMIT)
        self.rang = asyncio.Event()

    def offer(self, message: BusMessage) -> None:
        """Deliver from any thread."""
        self.loop.call_soon_threadsafe(self._put, message)

    def _put(self, message: BusMessage) -> None:
        if message.kind == "doorbell":
            self.rang.set()
            return
        if not self.queue.full():
            self.queue.put_nowait(message)
        self.rang.set()


class Bus(Protocol):
    """Publishes doorbells and previews; SSE readers subscribe per session."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def publish(self, message: BusMessage) -> None:
        """Send without waiting; never raises."""
        ...

    def subscribe(self, session_id: str, kinds: frozenset[BusKind] = STREAM_KINDS) -> Any:
        """A context manager yielding a ``Subscription`` to the session's messages of ``kinds``."""
        ...


class LocalBus:
    """In-process delivery to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    def publish(self, message: BusMessage) -> None:
        self.deliver(message)

    def deliver(self, message: BusMessage) -> None:
        """Hand a message to this process's subscribers of its session."""
        for subscription in list(self._subscribers.get(message.session_id, ())):
            if message.kind in subscription.kinds:
                subscription.offer(message)

    @contextmanager
    def subscribe(
        self, session_id: str, kinds: frozenset[BusKind] = STREAM_KINDS
    ) -> Generator[Subscription, None, None]:
        subscription = Subscription(asyncio.get_running_loop(), kinds)
        self._subscribers[session_id].add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(session_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[session_id]
