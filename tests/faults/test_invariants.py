"""The fault suite's invariant checker catches each way a fault could break a session (so a green run means it held)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.model_server import RecordedRequest
from tests.faults.rig import Watcher, assert_session_intact

TOKEN = "tok"


def request(finished: bool = True) -> RecordedRequest:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": f"[[slow:3]] {TOKEN}"}]}
    return RecordedRequest("POST", "/v1/messages", {}, body, 1.0, 1.1, 2.0 if finished else None)


def events(text: str = f"You said: {TOKEN}") -> list[dict[str, Any]]:
    return [
        {"id": "e1", "type": "user.message"},
        {"id": "e2", "type": "session.status_running"},
        {"id": "e3", "type": "agent.message", "content": [{"type": "text", "text": text}]},
        {"id": "e4", "type": "session.status_idle", "stop_reason": {"type": "end_turn"}},
    ]


def watcher(seen: list[str]) -> Watcher:
    return Watcher("sesn_x", TOKEN, seen=seen)


def test_an_intact_session_passes() -> None:
    assert_session_intact(watcher(["e1", "e2", "e3", "e4"]), events(), [request(False), request()])


def _duplicate_id(log: list[dict[str, Any]]) -> None:
    log[1]["id"] = "e1"


def _second_message(log: list[dict[str, Any]]) -> None:
    log.insert(3, {"id": "e9", "type": "agent.message", "content": [{"type": "text", "text": "again"}]})


def _no_message(log: list[dict[str, Any]]) -> None:
    del log[2]


def _not_idle(log: list[dict[str, Any]]) -> None:
    log[-1] = {"id": "e4", "type": "session.status_running"}


@pytest.mark.parametrize("break_log", [_duplicate_id, _second_message, _no_message, _not_idle])
def test_a_broken_log_fails(break_log: Callable[[list[dict[str, Any]]], None]) -> None:
    log = events()
    break_log(log)
    with pytest.raises(AssertionError):
        assert_session_intact(watcher([e["id"] for e in log]), log, [request()])


@pytest.mark.parametrize("seen", [["e1", "e2", "e4"], ["e1", "e2", "e3", "e3", "e4"], ["e2", "e1", "e3", "e4"]])
def test_a_stream_with_a_gap_a_repeat_or_a_swap_fails(seen: list[str]) -> None:
    with pytest.raises(AssertionError):
        assert_session_intact(watcher(seen), events(), [request()])


def test_an_answer_missing_from_the_log_fails() -> None:
    with pytest.raises(AssertionError):
        assert_session_intact(watcher(["e1", "e2", "e3", "e4"]), events("something else"), [request()])


def test_no_completed_answer_fails() -> None:
    with pytest.raises(AssertionError):
        assert_session_intact(watcher(["e1", "e2", "e3", "e4"]), events(), [request(False)])
