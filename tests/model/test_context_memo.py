"""Each visible event's blocks are built once per worker and shared by later requests: never marked, never stale."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from activities.model import context
from activities.model.anthropic_stream import messages_params
from activities.model.context import build_messages
from activities.model.request import ModelRequest
from dma.store.tables import SessionEvent


def _row(seq: int, kind: str, body: dict[str, Any]) -> SessionEvent:
    return SessionEvent(id=f"sevt_{uuid.uuid4().hex}", session_id="s", seq=seq, type=kind, body=body)


def _conversation(turns: int) -> list[SessionEvent]:
    rows: list[SessionEvent] = []
    for turn in range(turns):
        text = {"content": [{"type": "text", "text": f"turn {turn}"}]}
        rows += [_row(2 * turn + 1, "user.message", text), _row(2 * turn + 2, "agent.message", text)]
    return rows


def test_a_later_request_builds_only_its_new_events(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = context._event_blocks  # pyright: ignore[reportPrivateUsage]

    def counting(row: SessionEvent, files: context.FileSources) -> Any:
        built.append(row.id)
        return real(row, files)

    monkeypatch.setattr(context, "_event_blocks", counting)
    rows = _conversation(50)
    first = build_messages(rows)
    assert len(built) == 100
    more = [*rows, *_conversation(1)]
    more[-2].seq, more[-1].seq = 101, 102
    again = build_messages(more)
    assert len(built) == 102 and again[:100] == first


def test_cache_marks_never_reach_the_shared_blocks() -> None:
    rows = _conversation(3)
    for _ in range(3):
        request = ModelRequest(model="m", messages=build_messages(rows), max_tokens=10)
        params = messages_params(request)
        marked = [b for m in params["messages"] for b in m["content"] if "cache_control" in b]
        assert len(marked) == 2
    assert all("cache_control" not in block for m in build_messages(rows) for block in m["content"])


def test_a_message_with_file_sources_resolves_them_on_every_request() -> None:
    body = {"content": [{"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}
    rows = [_row(1, "user.message", body)]
    assert build_messages(rows)[0]["content"][0]["type"] == "text"  # not available yet
    source = {"type": "base64", "media_type": "image/png", "data": "AAA"}
    resolved = build_messages(rows, {"file_1": source})
    assert resolved[0]["content"][0] == {"type": "image", "source": source}
