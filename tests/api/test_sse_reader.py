"""The SSE reader keeps previews ahead of the message they preview, even when the whole reply commits during one read.

Seen under load before the fix: a fast reply's deltas and its ``agent.message`` all landed while the reader was in
one DB read; the reader sent the message, then dropped the deltas as already persisted, so no ``event_start`` came.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from api import sse_feed
from dma.bus import BusMessage, LocalBus
from dma.store.tables import SessionEvent

SESSION = "sesn_reader"
MESSAGE_ID = "sevt_message"


class _Db:
    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        yield None


def _message_row() -> SessionEvent:
    body: dict[str, Any] = {"content": [{"type": "text", "text": "hello"}]}
    now = datetime.now(UTC)
    return SessionEvent(id=MESSAGE_ID, session_id=SESSION, seq=1, type="agent.message", body=body, processed_at=now)


async def test_previews_that_arrive_during_a_read_go_out_before_the_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = LocalBus()
    with bus.subscribe(SESSION) as subscription:

        async def read_while_the_reply_lands(
            _db: object, _session_id: str, _after: int, _limit: int
        ) -> list[SessionEvent]:
            start = {"type": "event_start", "event": {"id": MESSAGE_ID, "type": "agent.message"}}
            delta = {"type": "event_delta", "event_id": MESSAGE_ID, "delta": {"type": "text", "text": "hel"}}
            for preview in (start, delta):
                bus.publish(BusMessage(SESSION, "delta", {"for": "agent.message", "frame": preview}))
            bus.publish(BusMessage(SESSION, "doorbell"))
            await asyncio.sleep(0.01)  # the loop delivers what was published meanwhile
            return [_message_row()]

        monkeypatch.setattr(sse_feed.log, "visible_after", read_while_the_reply_lands)
        reader = sse_feed.LogReader(_Db(), SESSION, subscription, 0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        items, ended = await reader.persisted_frames()
    names = [item.text.split("event: ", 1)[1].split("\n", 1)[0] for item in items]
    assert names == ["event_start", "event_delta", "agent.message"] and not ended
