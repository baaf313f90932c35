"""Following a session's event stream (with token deltas), reconnecting after the last persisted event it saw."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anthropic

Event = dict[str, Any]
PREVIEWS: list[Any] = ["agent.message"]
ENDING_TYPES = frozenset({"session.status_terminated", "session.deleted"})
RECONNECT_SECONDS = 1.0


class Follower:
    """The events of one session from ``after`` on, persisted and previewed, across reconnects."""

    def __init__(self, client: anthropic.Anthropic, session_id: str, after: str | None) -> None:
        self.client = client
        self.session_id = session_id
        self.after = after
        self._stream: Any = None
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Event]:
        import anthropic

        while not self._closed.is_set():
            query = {"after": self.after} if self.after else None
            try:
                stream = self.client.beta.sessions.events.stream(
                    self.session_id, event_deltas=PREVIEWS, extra_query=query
                )
            except anthropic.APIConnectionError:
                time.sleep(RECONNECT_SECONDS)
                continue
            self._stream = stream
            try:
                for item in stream:
                    event: Event = item.model_dump(mode="json")
                    if event.get("type") not in ("event_start", "event_delta") and event.get("id"):
                        self.after = str(event["id"])
                    yield event
                    if event.get("type") in ENDING_TYPES:
                        return
            except anthropic.APIStatusError:
                raise
            except Exception:  # noqa: BLE001 - a dropped connection (any transport error): resume after self.after
                if self._closed.is_set():
                    return
            finally:
                stream.close()
            time.sleep(RECONNECT_SECONDS)

    def close(self) -> None:
        """Stop following (from any thread): the open connection is closed, so a blocked read ends."""
        self._closed.set()
        if self._stream is not None:
            self._stream.close()


def in_background(follower: Follower) -> queue.Queue[Event | BaseException]:
    """Follow in a daemon thread, so the main thread stays free for the keyboard (Ctrl-C, y/n)."""
    events: queue.Queue[Event | BaseException] = queue.Queue()

    def pump() -> None:
        try:
            for event in follower:
                events.put(event)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which reports it
            events.put(error)

    threading.Thread(target=pump, name="dma-follow", daemon=True).start()
    return events
