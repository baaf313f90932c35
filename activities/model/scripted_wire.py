"""Scripted-model replies and their encodings in the Anthropic Messages and OpenAI Chat Completions wire formats.

The encoders are pure: each turns one `ScriptedReply` into exactly the JSON bodies or stream events the real APIs send,
so the real `anthropic` and `openai` SDKs parse them unchanged. The async `*_sse_stream` helpers add the reply's pacing
and are shared by the in-process `ScriptedTransport` and the fake model server of the test suite.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

JsonObject = dict[str, Any]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal"]

SLOW_CHUNKS = 10
WORDS_PER_CHUNK = 4
JSON_CHARS_PER_CHUNK = 16
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OPENAI_FINISH_REASONS = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


@dataclass(frozen=True)
class ScriptedToolUse:
    """One tool call the scripted model makes; an empty `id` is derived from the response id when encoded."""

    name: str
    input: JsonObject
    id: str = ""


@dataclass(frozen=True)
class ScriptedUsage:
    """Token counts reported for one reply; ``input_tokens`` excludes what was read from or written to a cache."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass(frozen=True)
class ScriptedReply:
    """What the scripted model answers to one request: content, stop reason, pacing, or an HTTP error.

    A reply with tool uses and the default stop reason stops with `tool_use`, as the real API does. With `usage` unset
    the encoders estimate output tokens and report zero input tokens.
    """

    text: str = ""
    tool_uses: Sequence[ScriptedToolUse] = ()
    thinking: str | None = None
    stop_reason: StopReason = "end_turn"
    usage: ScriptedUsage | None = None
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    error_status: int | None = None
    retry_after: float | None = None
    error_message: str = ""

    def __post_init__(self) -> None:
        # object.__setattr__ is the sanctioned way to normalise fields of a frozen dataclass.
        object.__setattr__(self, "tool_uses", tuple(self.tool_uses))
        if self.tool_uses and self.stop_reason == "end_turn":
            object.__setattr__(self, "stop_reason", "tool_use")


def count_tokens(text: str) -> int:
    """Estimate tokens the way the scripted model bills them: one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def estimate_output_tokens(reply: ScriptedReply) -> int:
    """Estimate the output tokens of `reply` from its text, thinking and tool inputs (at least 1)."""
    tools = sum(count_tokens(tool.name + json.dumps(tool.input)) for tool in reply.tool_uses)
    return max(1, count_tokens(reply.text) + count_tokens(reply.thinking or "") + tools)


def tool_use_id(name: str, tool_input: JsonObject, salt: str) -> str:
    """Return a deterministic Anthropic-style tool use id (`toolu_…`) for a call."""
    return "toolu_" + _digest(f"{salt}:{name}:{json.dumps(tool_input, sort_keys=True)}")


def thinking_signature(thinking: str) -> str:
    """Return the fake (base64, deterministic) signature that accompanies a thinking block."""
    return base64.b64encode(hashlib.sha256(f"scripted-thinking:{thinking}".encode()).digest()).decode()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _usage(reply: ScriptedReply) -> ScriptedUsage:
    return reply.usage or ScriptedUsage(input_tokens=0, output_tokens=estimate_output_tokens(reply))


def _default_id(prefix: str, reply: ScriptedReply) -> str:
    return prefix + _digest(json.dumps(asdict(reply), sort_keys=True, default=str))


def _chunks(text: str, slow: bool) -> list[str]:
    if not text:
        return []
    if slow:
        # A slow reply must trickle in SLOW_CHUNKS pieces however few words it has.
        pieces = min(SLOW_CHUNKS, len(text))
        return [text[len(text) * i // pieces : len(text) * (i + 1) // pieces] for i in range(pieces)]
    words = re.split(r"(?<=\s)(?=\S)", text)
    return ["".join(words[i : i + WORDS_PER_CHUNK]) for i in range(0, len(words), WORDS_PER_CHUNK)]


def _tool_calls(reply: ScriptedReply, response_id: str) -> list[ScriptedToolUse]:
    # Salting with the response id keeps the ids of a reply enqueued twice unique within a conversation.
    return [
        tool if tool.id else replace(tool, id=tool_use_id(tool.name, tool.input, f"{response_id}:{index}"))
        for index, tool in enumerate(reply.tool_uses)
    ]


def _content_blocks(reply: ScriptedReply, message_id: str) -> list[JsonObject]:
    blocks: list[JsonObject] = []
    if reply.thinking is not None:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": thinking_signature(reply.thinking)})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    tools = _tool_calls(reply, message_id)
    blocks.extend({"type": "tool_use", "id": t.id, "name": t.name, "input": t.input} for t in tools)
    return blocks


def anthropic_message_json(reply: ScriptedReply, model: str, message_id: str | None = None) -> JsonObject:
    """Encode `reply` as a complete (non-streaming) Anthropic Messages API response body.

    Args:
        reply: The planned reply; its error fields are ignored here.
        model: The model id echoed back, as the real API does.
        message_id: The `msg_…` id; derived from the reply when omitted.
    """
    usage = _usage(reply)
    message_id = message_id or _default_id("msg_", reply)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content_blocks(reply, message_id),
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        },
    }


def _block_deltas(block: JsonObject, slow: bool) -> Iterator[JsonObject]:
    if block["type"] == "thinking":
        yield from ({"type": "thinking_delta", "thinking": part} for part in _chunks(block["thinking"], slow))
        yield {"type": "signature_delta", "signature": block["signature"]}
    elif block["type"] == "text":
        yield from ({"type": "text_delta", "text": part} for part in _chunks(block["text"], slow))
    else:
        raw = json.dumps(block["input"])
        for i in range(0, len(raw), JSON_CHARS_PER_CHUNK):
            yield {"type": "input_json_delta", "partial_json": raw[i : i + JSON_CHARS_PER_CHUNK]}


def _empty_block(block: JsonObject) -> JsonObject:
    # content_block_start carries the block with its streamed fields still empty.
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if block["type"] == "text":
        return {"type": "text", "text": ""}
    return {**block, "input": {}}


def anthropic_sse_events(
    reply: ScriptedReply, model: str, message_id: str | None = None
) -> Iterator[tuple[str, JsonObject]]:
    """Yield `(event, data)` pairs of the Anthropic streaming sequence for `reply`.

    The sequence is `message_start`, `ping`, then per block `content_block_start`, its `content_block_delta`s
    (`thinking_delta` + `signature_delta`, `text_delta`, or `input_json_delta`) and `content_block_stop`, then
    `message_delta` (stop reason and output usage) and `message_stop`.
    """
    start = anthropic_message_json(reply, model, message_id)
    blocks, usage = start["content"], start["usage"]
    start.update(content=[], stop_reason=None, usage={**usage, "output_tokens": 1})
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(blocks):
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": _empty_block(block)},
        )
        for delta in _block_deltas(block, slow=reply.chunk_delay > 0):
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


def anthropic_error_type(status: int) -> str:
    """Return the Anthropic error `type` for an HTTP status (e.g. 529 → `overloaded_error`)."""
    return ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_json(status: int, message: str = "") -> JsonObject:
    """Encode the Anthropic error body `{"type": "error", "error": {"type": …, "message": …}}` for `status`."""
    error_type = anthropic_error_type(status)
    return {"type": "error", "error": {"type": error_type, "message": message or f"scripted {error_type}"}}


def openai_error_json(status: int, message: str = "") -> JsonObject:
    """Encode the OpenAI error body `{"error": {"message", "type", "param", "code"}}` for `status`."""
    error_type = anthropic_error_type(status)
    return {"error": {"message": message or f"scripted {error_type}", "type": error_type, "param": None, "code": None}}


def error_headers(reply: ScriptedReply) -> dict[str, str]:
    """Return the headers of an error response: `retry-after` when the reply sets one."""
    return {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}


def _openai_usage(reply: ScriptedReply) -> JsonObject:
    usage = _usage(reply)
    # OpenAI counts cached prompt tokens inside prompt_tokens and reports them again under prompt_tokens_details.
    prompt = usage.input_tokens + usage.cache_read_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
    }


def _openai_tool_call(tool: ScriptedToolUse) -> JsonObject:
    return {"id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": json.dumps(tool.input)}}


def openai_chat_json(reply: ScriptedReply, model: str, completion_id: str | None = None) -> JsonObject:
    """Encode `reply` as a complete OpenAI Chat Completions response body.

    Thinking goes in `reasoning_content` (as vLLM and other compatible servers send it) and a refusal's text in
    `refusal`, with finish reason `content_filter`.
    """
    completion_id = completion_id or _default_id("chatcmpl-", reply)
    refused = reply.stop_reason == "refusal"
    message: JsonObject = {"role": "assistant", "content": None if refused else reply.text or None}
    message["refusal"] = reply.text if refused else None
    if reply.tool_uses:
        message["tool_calls"] = [_openai_tool_call(tool) for tool in _tool_calls(reply, completion_id)]
    if reply.thinking is not None:
        message["reasoning_content"] = reply.thinking
    choice = {"index": 0, "message": message, "finish_reason": OPENAI_FINISH_REASONS[reply.stop_reason]}
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{**choice, "logprobs": None}],
        "usage": _openai_usage(reply),
    }


def _openai_deltas(reply: ScriptedReply, completion_id: str) -> Iterator[JsonObject]:
    slow = reply.chunk_delay > 0
    yield from ({"reasoning_content": part} for part in _chunks(reply.thinking or "", slow))
    text_key = "refusal" if reply.stop_reason == "refusal" else "content"
    yield from ({text_key: part} for part in _chunks(reply.text, slow))
    for index, tool in enumerate(_tool_calls(reply, completion_id)):
        call = _openai_tool_call(tool)
        arguments = call["function"]["arguments"]
        call["function"]["arguments"] = ""
        yield {"tool_calls": [{"index": index, **call}]}
        for i in range(0, len(arguments), JSON_CHARS_PER_CHUNK):
            part = arguments[i : i + JSON_CHARS_PER_CHUNK]
            yield {"tool_calls": [{"index": index, "function": {"arguments": part}}]}


def openai_chat_chunks(
    reply: ScriptedReply, model: str, *, include_usage: bool = False, completion_id: str | None = None
) -> Iterator[JsonObject]:
    """Yield the `chat.completion.chunk` objects of a streamed Chat Completions response (without `[DONE]`).

    Args:
        reply: The planned reply.
        model: The model id echoed back.
        include_usage: As `stream_options.include_usage`: every chunk carries `usage: null` and a final chunk with
            no choices carries the usage.
        completion_id: The `chatcmpl-…` id; derived from the reply when omitted.
    """
    completion_id = completion_id or _default_id("chatcmpl-", reply)
    base: JsonObject = {"id": completion_id, "object": "chat.completion.chunk", "created": 0, "model": model}
    if include_usage:
        base["usage"] = None

    def chunk(delta: JsonObject, finish_reason: str | None = None) -> JsonObject:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant"})
    yield from (chunk(delta) for delta in _openai_deltas(reply, completion_id))
    yield chunk({}, OPENAI_FINISH_REASONS[reply.stop_reason])
    if include_usage:
        yield {**base, "choices": [], "usage": _openai_usage(reply)}


def sse_frame(event: str | None, data: JsonObject | str) -> bytes:
    """Frame one server-sent event; `event=None` omits the event line, as OpenAI streams do."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


def reply_duration(reply: ScriptedReply) -> float:
    """Return how long streaming `reply` takes; non-streaming answers wait this long too."""
    deltas = sum(1 for event, _ in anthropic_sse_events(reply, "") if event == "content_block_delta")
    return reply.first_byte_delay + deltas * reply.chunk_delay


async def anthropic_sse_stream(
    reply: ScriptedReply, model: str, message_id: str | None = None
) -> AsyncGenerator[bytes]:
    """Yield the SSE frames of `reply`, waiting `first_byte_delay` first and `chunk_delay` before each delta."""
    await asyncio.sleep(reply.first_byte_delay)
    for event, data in anthropic_sse_events(reply, model, message_id):
        if event == "content_block_delta" and reply.chunk_delay > 0:
            await asyncio.sleep(reply.chunk_delay)
        yield sse_frame(event, data)


async def openai_sse_stream(
    reply: ScriptedReply, model: str, *, include_usage: bool = False, completion_id: str | None = None
) -> AsyncGenerator[bytes]:
    """Yield the SSE frames of a streamed Chat Completions response, paced like `anthropic_sse_stream`."""
    await asyncio.sleep(reply.first_byte_delay)
    for chunk in openai_chat_chunks(reply, model, include_usage=include_usage, completion_id=completion_id):
        carries_delta = any(set(choice["delta"]) - {"role"} for choice in chunk["choices"])
        if carries_delta and reply.chunk_delay > 0:
            await asyncio.sleep(reply.chunk_delay)
        yield sse_frame(None, chunk)
    yield sse_frame(None, "[DONE]")
