"""Cache breakpoints copy only the messages they mark: the conversation they were given is never changed."""

from __future__ import annotations

import copy
from typing import Any

from activities.model.anthropic_stream import messages_params
from activities.model.request import ModelRequest


def _conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"question {turn}"}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {turn}"}]})
    return messages


def test_marks_go_on_copies_and_the_rest_is_shared() -> None:
    messages = _conversation(4)
    before = copy.deepcopy(messages)
    for _ in range(3):  # as the same context serves a request, its retry and a failover
        sent = messages_params(ModelRequest(model="m", messages=messages, max_tokens=10))["messages"]
        marked = [index for index, message in enumerate(sent) if "cache_control" in message["content"][-1]]
        assert marked == [4, 7]  # the previous user message, and the conversation's last block
    assert messages == before
