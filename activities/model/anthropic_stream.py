"""The Anthropic Messages API provider: one streaming request through the ``anthropic`` SDK.

The stream is folded into a ``ModelResult``; requests carry prompt-caching breakpoints, effort and speed.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from activities.model.caching import cached_messages, cached_system, cached_tools
from activities.model.request import ModelRequest
from activities.model.result import ModelResult, StreamSink, ToolCall

# Reasoning another provider produced (stored with the log) means nothing to Claude and would be refused.
_FOREIGN_BLOCKS = frozenset({"reasoning"})


class _Fold:
    """Accumulates raw stream events; text blocks are numbered in the order they appear (the delta ``index``)."""

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink
        self.result = ModelResult()
        self.kinds: dict[int, str] = {}
        self.text_index: dict[int, int] = {}
        self.thinking: dict[int, dict[str, Any]] = {}
        self.tool_json: dict[int, list[str]] = {}
        self.tool_names: dict[int, str] = {}

    def start(self, index: int, block: Any) -> None:
        kind = block.type
        self.kinds[index] = kind
        if kind == "text":
            self.text_index[index] = len(self.result.texts)
            self.result.texts.append(block.text or "")
            self.sink.text_started(self.text_index[index])
        elif kind == "thinking":
            self.thinking[index] = {"type": "thinking", "thinking": block.thinking or "", "signature": ""}
            self.sink.thinking_started()
        elif kind == "redacted_thinking":
            self.thinking[index] = {"type": "redacted_thinking", "data": block.data}
            self.sink.thinking_started()
        elif kind in ("tool_use", "server_tool_use"):
            self.tool_names[index] = block.name
            self.tool_json[index] = []

    def delta(self, index: int, delta: Any) -> None:
        kind = delta.type
        if kind == "text_delta" and index in self.text_index:
            position = self.text_index[index]
            self.result.texts[position] += delta.text
            self.sink.text_delta(position, delta.text)
        elif kind == "thinking_delta" and index in self.thinking:
            self.thinking[index]["thinking"] += delta.thinking
        elif kind == "signature_delta" and index in self.thinking:
            self.thinking[index]["signature"] += delta.signature
        elif kind == "input_json_delta" and index in self.tool_json:
            self.tool_json[index].append(delta.partial_json)

    def stop(self, index: int) -> None:
        if index in self.thinking:
            self.result.thinking_blocks.append(self.thinking.pop(index))
        elif index in self.tool_json:
            raw = "".join(self.tool_json.pop(index)) or "{}"
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError:
                parsed = {"_raw": raw}
            tool_input: dict[str, Any] = parsed if isinstance(parsed, dict) else {"value": parsed}  # pyright: ignore[reportUnknownVariableType] - JSON
            self.result.tool_calls.append(ToolCall(name=self.tool_names[index], input=tool_input))


async def stream_messages(client: anthropic.AsyncAnthropic, params: dict[str, Any], sink: StreamSink) -> ModelResult:
    """Run the request with ``stream=True`` and return what it produced; provider errors propagate."""
    fold = _Fold(sink)
    usage = fold.result.usage
    # The body is encoded here, once: ``messages.create`` would first copy the whole conversation, block by block
    # (the SDK's ``copy_tree``, for bodies that may hold iterators or files; ours are plain JSON), then encode it.
    body = json.dumps({**params, "stream": True}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    stream = await client.post(
        "/v1/messages",
        cast_to=anthropic.types.Message,
        content=body.encode(),
        stream=True,
        stream_cls=anthropic.AsyncStream[anthropic.types.RawMessageStreamEvent],
    )
    async with stream:
        async for event in stream:
            if event.type == "message_start":
                start = event.message.usage
                usage.input_tokens = start.input_tokens or 0
                usage.cache_read_input_tokens = start.cache_read_input_tokens or 0
                usage.cache_creation_input_tokens = start.cache_creation_input_tokens or 0
                usage.output_tokens = start.output_tokens or 0
                usage.speed = start.speed
            elif event.type == "content_block_start":
                fold.start(event.index, event.content_block)
            elif event.type == "content_block_delta":
                fold.delta(event.index, event.delta)
            elif event.type == "content_block_stop":
                fold.stop(event.index)
            elif event.type == "message_delta":
                fold.result.stop_reason = event.delta.stop_reason or fold.result.stop_reason
                usage.output_tokens = event.usage.output_tokens or usage.output_tokens
                if event.usage.input_tokens:
                    usage.input_tokens = event.usage.input_tokens
    return fold.result


def _own_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    for message in messages:
        content: list[dict[str, Any]] = [
            block for block in message["content"] if block.get("type") not in _FOREIGN_BLOCKS
        ]
        if not content:
            continue
        if kept and kept[-1]["role"] == message["role"]:
            kept[-1] = {**kept[-1], "content": kept[-1]["content"] + content}
        else:
            kept.append({**message, "content": content})
    return kept


def messages_params(request: ModelRequest) -> dict[str, Any]:
    """The ``messages.create`` arguments for a request, with cache breakpoints on system, tools and conversation."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": cached_messages(_own_blocks(request.messages)),
    }
    if request.system:
        params["system"] = cached_system(request.system)
    if request.tools:
        params["tools"] = request.tools if request.system else cached_tools(request.tools)
    if request.effort:
        params["output_config"] = {"effort": request.effort}
    if request.speed:
        params["speed"] = request.speed
    if request.inference_geo:
        params["inference_geo"] = request.inference_geo
    return params


class AnthropicProvider:
    """The Messages API through one ``AsyncAnthropic`` client (Anthropic, a compatible server, the scripted model)."""

    def __init__(self, client: anthropic.AsyncAnthropic) -> None:
        self.client = client

    async def stream(self, request: ModelRequest, sink: StreamSink) -> ModelResult:
        return await stream_messages(self.client, messages_params(request), sink)
