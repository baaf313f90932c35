"""Provider-neutral result of one model request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolCall:
    """A tool call as the provider returned it."""

    name: str
    input: dict[str, Any]


@dataclass
class Usage:
    """Token counts of one request (the four fields ``span.model_request_end.model_usage`` requires)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    # The speed tier the request ran at, when the provider reports one (``model_usage.speed``).
    speed: str | None = None

    def as_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }
        if self.speed in ("standard", "fast"):
            wire["speed"] = self.speed
        return wire


@dataclass
class ModelResult:
    """Everything one model request produced, in the order the model produced it."""

    texts: list[str] = field(default_factory=list[str])
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    stop_reason: str = "end_turn"
    usage: Usage = field(default_factory=Usage)


class StreamSink(Protocol):
    """Where a provider stream reports progress (token previews for SSE readers)."""

    def thinking_started(self) -> None: ...

    def text_started(self, index: int) -> None: ...

    def text_delta(self, index: int, text: str) -> None: ...
