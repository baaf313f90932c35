"""Context compaction: a request that would not fit the model's context window gets a summary instead of its past.

The older part of the conversation is replaced by a model-written summary (recorded as
``agent.thread_context_compacted``).

Tokens are estimated at four characters each over the request's JSON (system, messages, tools). A request is
compacted when that estimate passes ``TRIGGER`` of the input budget (the window less the output tokens asked for);
the recent part kept verbatim is at most ``KEEP`` of the budget and starts where a turn can start (a user message,
or the first block of a model response), so tool calls and their results stay together. The older part, with any
earlier summary, is rendered as a transcript and summarized by the same model, in chunks if it is larger than one
request can hold. The result leaves room to grow, so a long session compacts now and then, not at every step.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, cast

from activities.model.context import TOOL_USE_TYPES
from activities.model.history import History
from activities.model.request import ModelRequest, Provider
from activities.model.result import Usage
from dma.catalog.catalog import Route
from dma.store.tables import SessionEvent

TRIGGER = 0.9
KEEP = 0.3
CHUNK = 0.6
CHARS_PER_TOKEN = 4
RESULT_PREVIEW = 2000
_USER_SIDE = frozenset({"user.message", "system.message"})
_RESULTS = frozenset({"agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result", "user.tool_result"})
_ASSISTANT_SIDE = frozenset({"agent.message", "agent.thinking", *TOOL_USE_TYPES})
SYSTEM_PROMPT = (
    "You compact the history of a long-running agent session so the agent can continue with less context. "
    "Write a faithful, concise summary in plain text. Keep the user's goals and instructions, decisions made, facts "
    "learned, names of files, commands and tools used and what they returned when it matters, open questions, and "
    "what remains to be done. Do not invent anything and do not address the user."
)


class CompactionTooSmall(Exception):
    """Even the most recent part of the conversation alone does not fit the model's context window."""


def estimate_tokens(value: object) -> int:
    """Tokens of a JSON value, estimated at four characters each."""
    return math.ceil(len(json.dumps(value, ensure_ascii=False, default=str)) / CHARS_PER_TOKEN)


def request_tokens(request: ModelRequest) -> int:
    """The estimated input tokens of a request."""
    return estimate_tokens([request.system, request.messages, request.tools])


def input_budget(route: Route, request: ModelRequest) -> int | None:
    """Input tokens the model can take besides the output asked for (None: the window is unknown)."""
    window = route.spec.context_window
    return None if window is None else max(0, window - request.max_tokens)


def needs_compaction(route: Route, request: ModelRequest) -> bool:
    """Whether the request would come too close to the model's context window."""
    budget = input_budget(route, request)
    return budget is not None and request_tokens(request) > budget * TRIGGER


def _side(row: SessionEvent) -> str | None:
    if row.type in _USER_SIDE or row.type in _RESULTS:
        return "user"
    if row.type in _ASSISTANT_SIDE:
        return "assistant"
    return None


def tail_start(rows: list[SessionEvent], keep_tokens: int) -> int | None:
    """Where the verbatim recent part begins.

    Returns:
        The earliest turn start whose part fits ``keep_tokens``, else the latest turn start; None when nothing
        before it could be summarized.
    """
    starts: list[int] = []
    previous: str | None = None
    for index, row in enumerate(rows):
        side = _side(row)
        if side is None:
            continue
        if row.type in _USER_SIDE or (side == "assistant" and previous != "assistant"):
            starts.append(index)
        previous = side
    suffix = [0] * (len(rows) + 1)
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        size = estimate_tokens([row.body, (row.extra or {}).get("blocks")]) if _side(row) else 0
        suffix[index] = suffix[index + 1] + size
    chosen: int | None = None
    for index in reversed(starts):
        if chosen is not None and suffix[index] > keep_tokens:
            break
        chosen = index
    if chosen is None or not any(_side(row) for row in rows[:chosen]):
        return None
    return chosen


def _block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return f"[called {block.get('name')} with {json.dumps(block.get('input'), ensure_ascii=False)[:500]}]"
    if kind == "tool_result":
        content: Any = block.get("content")
        parts: list[Any] = content if isinstance(content, list) else [{"type": "text", "text": str(content)}]  # pyright: ignore[reportUnknownVariableType] - JSON
        text = " ".join(_block_text(cast(dict[str, Any], part)) for part in parts if isinstance(part, dict))
        flag = "error " if block.get("is_error") else ""
        return f"[{flag}result: {text[:RESULT_PREVIEW]}]"
    if kind in ("image", "document"):
        return f"[{kind}]"
    return ""


def transcript(messages: list[dict[str, Any]]) -> str:
    """The conversation as plain text, one paragraph per message (thinking left out)."""
    lines: list[str] = []
    for message in messages:
        text = "\n".join(t for block in message["content"] if (t := _block_text(block)))
        if text:
            lines.append(f"{'User' if message['role'] == 'user' else 'Assistant'}: {text}")
    return "\n\n".join(lines)


class _Silent:
    """A stream sink for summary requests: nothing is previewed."""

    def thinking_started(self) -> None:
        return None

    def text_started(self, index: int) -> None:  # noqa: ARG002 - the sink protocol
        return None

    def text_delta(self, index: int, text: str) -> None:  # noqa: ARG002 - the sink protocol
        return None


@dataclass
class Compaction:
    """A finished compaction: the new summary, where the kept part begins, and the usage of each summary request."""

    summary: str
    from_seq: int
    kept: list[SessionEvent]
    usages: list[Usage] = field(default_factory=list[Usage])


def _chunks(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


async def _summarize(
    provider: Provider, request: ModelRequest, summary: str, chunk: str, max_tokens: int
) -> tuple[str, Usage]:
    earlier = f"Summary of what came before:\n{summary}\n\n" if summary else ""
    prompt = f"{earlier}Conversation to summarize:\n{chunk}\n\nWrite the summary now."
    ask = ModelRequest(
        model=request.model,
        messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        max_tokens=max_tokens,
        system=SYSTEM_PROMPT,
    )
    result = await provider.stream(ask, _Silent())
    text = "\n".join(part for part in result.texts if part).strip()
    # A model that returns nothing must not lose the history: keep the end of what it was given instead.
    return text or f"{summary}\n{chunk[-max_tokens * CHARS_PER_TOKEN :]}".strip(), result.usage


async def compact(provider: Provider, route: Route, request: ModelRequest, history: History) -> Compaction:
    """Summarize the older part of ``history``.

    Raises:
        CompactionTooSmall: when there is nothing older to summarize, so the context cannot shrink.
    """
    budget = input_budget(route, request) or 0
    start = tail_start(history.rows, int(budget * KEEP))
    if start is None:
        raise CompactionTooSmall(f"the conversation does not fit the {route.spec.context_window}-token window")
    older = transcript(History(history.rows[:start], history.summary).messages())
    chunk_chars = max(1000, int(budget * CHUNK) * CHARS_PER_TOKEN)
    max_tokens = max(64, min(request.max_tokens, budget // 8))
    summary, usages = "", list[Usage]()
    for chunk in _chunks(older, chunk_chars):
        summary, usage = await _summarize(provider, request, summary, chunk, max_tokens)
        usages.append(usage)
    kept = history.rows[start:]
    return Compaction(summary, int(kept[0].seq or 0), kept, usages)
