"""The OpenAI Chat Completions provider: one streaming request through the ``openai`` SDK.

It serves OpenAI and every OpenAI-compatible server (vLLM, Ollama, OpenRouter, LiteLLM); the stream is folded into
a ``ModelResult``.

Reasoning arrives as ``reasoning_content`` (vLLM, DeepSeek) or ``reasoning`` (OpenRouter, newer vLLM) deltas and is
kept as a ``reasoning`` block of ``agent.thinking``; usage comes from the final chunk (``include_usage``), with
cached prompt tokens split out of ``prompt_tokens`` so ``input_tokens`` means uncached input as on Anthropic.
"""

from __future__ import annotations

import json
from typing import Any, cast

import openai

from activities.model.openai_messages import chat_messages, chat_tools
from activities.model.request import ModelRequest
from activities.model.result import ModelResult, StreamSink, ToolCall, Usage

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}
_REASONING_FIELDS = ("reasoning_content", "reasoning")


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (malformed ones are kept raw, as the Anthropic fold does)."""
    try:
        parsed: Any = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}  # pyright: ignore[reportUnknownVariableType] - JSON


def fill_usage(usage: Usage, prompt: int, completion: int, cached: int) -> None:
    """Usage in the contract's terms: ``input_tokens`` excludes what was read from the cache."""
    usage.cache_read_input_tokens = max(0, cached)
    usage.input_tokens = max(0, prompt - usage.cache_read_input_tokens)
    usage.output_tokens = completion


def chat_params(request: ModelRequest, max_tokens_field: str) -> dict[str, Any]:
    """The ``chat.completions.create`` arguments for a request."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": chat_messages(request.system, request.messages),
        max_tokens_field: request.max_tokens,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        params["tools"] = chat_tools(request.tools)
    if request.effort:
        params["reasoning_effort"] = request.effort
    if request.speed == "fast":
        params["service_tier"] = "priority"
    return params


class _ChatFold:
    """Accumulates stream chunks: one text block, one reasoning block, tool calls by their stream index."""

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink
        self.result = ModelResult()
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.refused = False

    def text(self, fragment: str) -> None:
        if not self.result.texts:
            self.result.texts.append("")
            self.sink.text_started(0)
        self.result.texts[0] += fragment
        self.sink.text_delta(0, fragment)

    def think(self, fragment: str) -> None:
        if not self.reasoning:
            self.sink.thinking_started()
        self.reasoning.append(fragment)

    def tool_delta(self, call: Any) -> None:
        entry = self.calls.setdefault(int(call.index or 0), {"name": "", "arguments": []})
        function = call.function
        if function is not None:
            entry["name"] += function.name or ""
            entry["arguments"].append(function.arguments or "")

    def chunk(self, chunk: Any) -> None:
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
            fill_usage(self.result.usage, chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0, cached)
        for choice in chunk.choices[:1]:
            delta = choice.delta
            extra: dict[str, Any] = delta.model_extra or {}
            for field in _REASONING_FIELDS:
                if isinstance(extra.get(field), str) and extra[field]:
                    self.think(extra[field])
            if delta.content:
                self.text(delta.content)
            if delta.refusal:
                self.refused = True
                self.text(delta.refusal)
            for call in cast(list[Any], delta.tool_calls or []):
                self.tool_delta(call)
            if choice.finish_reason:
                self.result.stop_reason = STOP_REASONS.get(choice.finish_reason, "end_turn")

    def finish(self) -> ModelResult:
        if self.reasoning:
            self.result.thinking_blocks.append({"type": "reasoning", "text": "".join(self.reasoning)})
        for _, call in sorted(self.calls.items()):
            self.result.tool_calls.append(ToolCall(call["name"], parse_arguments("".join(call["arguments"]))))
        if self.refused:
            self.result.stop_reason = "refusal"
        return self.result


class OpenAIChatProvider:
    """Chat Completions through one ``AsyncOpenAI`` client."""

    def __init__(self, client: openai.AsyncOpenAI, max_tokens_field: str) -> None:
        self.client = client
        self._max_tokens_field = max_tokens_field

    async def stream(self, request: ModelRequest, sink: StreamSink) -> ModelResult:
        fold = _ChatFold(sink)
        stream = await self.client.chat.completions.create(**chat_params(request, self._max_tokens_field), stream=True)
        async with stream:
            async for chunk in stream:
                fold.chunk(chunk)
        return fold.finish()
