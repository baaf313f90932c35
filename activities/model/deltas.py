"""Token previews (``event_start`` / ``event_delta``) for SSE readers, batched every ≤ 50 ms (DESIGN.md §4)."""

from __future__ import annotations

import time
from typing import Any

from dma.bus import Bus, BusMessage

FLUSH_SECONDS = 0.05


class DeltaPublisher:
    """A ``StreamSink`` that publishes previews of one model request's ``agent.message`` / ``agent.thinking``."""

    def __init__(self, bus: Bus, session_id: str, message_id: str, thinking_id: str) -> None:
        self._bus = bus
        self._session_id = session_id
        self._message_id = message_id
        self._thinking_id = thinking_id
        self._started: set[str] = set()
        self._pending: dict[int, str] = {}
        self._last_flush = time.monotonic()

    def _publish(self, preview_of: str, frame: dict[str, Any]) -> None:
        self._bus.publish(BusMessage(self._session_id, "delta", {"for": preview_of, "frame": frame}))

    def _start(self, preview_of: str, event_id: str) -> None:
        if event_id not in self._started:
            self._started.add(event_id)
            self._publish(preview_of, {"type": "event_start", "event": {"type": preview_of, "id": event_id}})

    def thinking_started(self) -> None:
        self._start("agent.thinking", self._thinking_id)

    def text_started(self, index: int) -> None:  # noqa: ARG002 - one preview event covers every text block
        self._start("agent.message", self._message_id)

    def text_delta(self, index: int, text: str) -> None:
        self._pending[index] = self._pending.get(index, "") + text
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Publish what is buffered (also called once the stream ends, before the message is persisted)."""
        for index, text in sorted(self._pending.items()):
            if text:
                delta = {"type": "content_delta", "index": index, "content": {"type": "text", "text": text}}
                self._publish("agent.message", {"type": "event_delta", "event_id": self._message_id, "delta": delta})
        self._pending.clear()
        self._last_flush = time.monotonic()
