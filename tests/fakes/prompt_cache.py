"""A prompt cache for the fake model server, so prompt-caching code is tested against cache hits that can fail.

Anthropic: the prefix (tools → system → messages) up to each ``cache_control`` block is a cache entry. A request
reads the longest prefix that ends at one of its breakpoints and was written before; it writes the prefix up to its
last breakpoint. OpenAI caches automatically: the longest run of leading messages (after the tools) seen before is
read from the cache. Token counts use the scripted model's four characters per token.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from activities.model.scripted_wire import count_tokens

Body = dict[str, Any]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k != "cache_control"}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_clean(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _items(body: Body) -> list[tuple[Any, bool]]:
    """The Anthropic prompt as (item, is_breakpoint) in cache order."""
    items: list[tuple[Any, bool]] = [(tool, "cache_control" in tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str):
        items.append((system, False))
    elif isinstance(system, list):
        items.extend((block, "cache_control" in block) for block in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        items.extend(((message.get("role"), block), "cache_control" in block) for block in blocks)
    return items


class PromptCache:
    """Prefixes written by earlier requests (thread-safe; the server answers on several tasks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    @staticmethod
    def _key(items: list[Any]) -> str:
        return hashlib.sha256(json.dumps(_clean(items), sort_keys=True, default=str).encode()).hexdigest()

    @staticmethod
    def _tokens(items: list[Any]) -> int:
        return count_tokens(json.dumps(_clean(items), default=str)) if items else 0

    def anthropic(self, body: Body) -> tuple[int, int, int]:
        """``(uncached input, cache read, cache creation)`` tokens of a Messages API request."""
        items = _items(body)
        total = self._tokens([item for item, _ in items])
        ends = [index + 1 for index, (_, marked) in enumerate(items) if marked]
        if not ends:
            return total, 0, 0
        keys = {end: self._key([item for item, _ in items[:end]]) for end in ends}
        with self._lock:
            read_end = max((end for end in ends if keys[end] in self._seen), default=0)
            self._seen.update(keys.values())
        read = self._tokens([item for item, _ in items[:read_end]])
        written = self._tokens([item for item, _ in items[: ends[-1]]]) - read
        return total - read - written, read, written

    def openai(self, body: Body) -> tuple[int, int]:
        """``(uncached input, cached)`` tokens of a Chat Completions or Responses request."""
        raw = body.get("messages") or body.get("input") or []
        messages: list[Any] = [raw] if isinstance(raw, str) else list(raw)
        head = [body.get("tools"), body.get("instructions")]
        total = self._tokens([*head, *messages])
        keys = [self._key([*head, *messages[:count]]) for count in range(1, len(messages) + 1)]
        with self._lock:
            hit = max((count for count, key in enumerate(keys, 1) if key in self._seen), default=0)
            self._seen.update(keys)
        cached = self._tokens([*head, *messages[:hit]]) if hit else 0
        return total - cached, cached
