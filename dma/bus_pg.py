"""The bus across processes on PostgreSQL: ``NOTIFY`` to publish, one ``LISTEN`` connection per process.

Messages from this process are delivered locally at once and skipped when they come back through ``LISTEN``.
NOTIFY payloads are capped at 8000 bytes by PostgreSQL; larger previews are dropped (best effort by design).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Generator
from contextlib import contextmanager

import psycopg

from dma.bus import BUS_KINDS, STREAM_KINDS, BusKind, BusMessage, LocalBus, Subscription

logger = logging.getLogger(__name__)

CHANNEL = "dma_session_events"
MAX_PAYLOAD = 7900


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class PgBus:
    """Publishes through NOTIFY from a background task; listens on one connection."""

    def __init__(self, database_url: str) -> None:
        self._url = _libpq_url(database_url)
        self._origin = uuid.uuid4().hex[:12]
        self._local = LocalBus()
        self._outbox: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._outbox = asyncio.Queue(10_000)
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._local.close()

    def publish(self, message: BusMessage) -> None:
        self._local.deliver(message)
        payload = json.dumps(
            {"o": self._origin, "s": message.session_id, "k": message.kind, "d": message.data}, separators=(",", ":")
        )
        if self._outbox is None or len(payload.encode()) > MAX_PAYLOAD or self._outbox.full():
            return
        self._outbox.put_nowait(payload)

    @contextmanager
    def subscribe(
        self, session_id: str, kinds: frozenset[BusKind] = STREAM_KINDS
    ) -> Generator[Subscription, None, None]:
        with self._local.subscribe(session_id, kinds) as subscription:
            yield subscription

    async def _send(self) -> None:
        assert self._outbox is not None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    while True:
                        payload = await self._outbox.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except (psycopg.Error, OSError) as err:
                logger.warning("bus publisher lost its connection (%s); reconnecting", type(err).__name__)
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for notice in conn.notifies():
                        self._dispatch(notice.payload)
            except (psycopg.Error, OSError) as err:
                logger.warning("bus listener lost its connection (%s); reconnecting", type(err).__name__)
                await asyncio.sleep(1.0)

    def _dispatch(self, payload: str) -> None:
        try:
            raw = json.loads(payload)
        except ValueError:
            return
        if raw.get("o") == self._origin:
            return
        kind = raw.get("k")
        if kind in BUS_KINDS:
            self._local.deliver(BusMessage(str(raw.get("s")), kind, dict(raw.get("d") or {})))
