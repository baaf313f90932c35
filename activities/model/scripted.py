"""The built-in scripted model: a deterministic stand-in for a real model, for offline development and tests.

An agent whose model id is `scripted` or starts with `scripted-` (e.g. `scripted-echo`) is answered by this module
instead of a provider, so `dma dev` works with no provider key and client developers can exercise every shape of
model output from their own messages. Replies are a pure function of the request (`plan_reply`).

Directives are read from the text of the last user message that has text (a tool-result-only turn keeps the
directives of the prompt that caused it). They are stripped from the echoed text and may be combined:

- (none): reply `You said: <text>` and stop with `end_turn`.
- `[[tool:NAME {"json": "input"}]]`, one or more: call those tools (after a short text) and stop with `tool_use`.
  When the last user message carries `tool_result` blocks the reply instead summarises them, one line each, as
  `Tool <name> returned: <first 200 characters>`, and stops with `end_turn`; so a turn with tools makes exactly
  two model calls.
- `[[slow:SECONDS]]`: stream the reply in about ten chunks spread over SECONDS.
- `[[delay:SECONDS]]`: wait SECONDS before the first byte of the response.
- `[[think]]`: start with a thinking block (also when the request enables `thinking`).
- `[[refuse]]`: decline, with stop reason `refusal`.
- `[[error:STATUS]]` or `[[error:STATUS:RETRY_AFTER]]`: fail with that HTTP status and the provider's error body;
  429 defaults to `retry-after: 0`.
- `[[long:N]]`: reply with N words, for streaming and delta tests.

A reply longer than the request's `max_tokens` (at four characters a token) is cut there with stop reason
`max_tokens`. `ScriptedTransport` serves the Anthropic Messages API from this planner in-process, so the real
`anthropic` SDK (streaming included) runs against it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import cast

import httpx2

from activities.model.scripted_wire import (
    SLOW_CHUNKS,
    JsonObject,
    ScriptedReply,
    ScriptedToolUse,
    ScriptedUsage,
    StopReason,
    anthropic_error_json,
    anthropic_message_json,
    anthropic_sse_stream,
    count_tokens,
    error_headers,
    estimate_output_tokens,
    reply_duration,
    tool_use_id,
)

__all__ = [
    "SCRIPTED_MODEL_PREFIX",
    "ScriptedReply",
    "ScriptedToolUse",
    "ScriptedTransport",
    "ScriptedUsage",
    "StopReason",
    "estimate_usage",
    "is_scripted_model",
    "openai_request_to_anthropic",
    "plan_reply",
]

SCRIPTED_MODEL_PREFIX = "scripted"
TOOL_RESULT_PREVIEW_CHARS = 200
REFUSAL_TEXT = "I can't help with that."
LONG_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
_DIRECTIVE = re.compile(r"\[\[(tool|slow|delay|think|refuse|error|long)(?::([^\]\s{]*))?")
_JSON = json.JSONDecoder()


def is_scripted_model(model: str) -> bool:
    """Return whether `model` names the scripted model (`scripted` or `scripted-…`)."""
    return model == SCRIPTED_MODEL_PREFIX or model.startswith(SCRIPTED_MODEL_PREFIX + "-")


@dataclass
class _Directives:
    tools: list[tuple[str, JsonObject]] = field(default_factory=list[tuple[str, JsonObject]])
    slow: float = 0.0
    delay: float = 0.0
    think: bool = False
    refuse: bool = False
    error: tuple[int, float | None] | None = None
    long: int | None = None


def _apply(directives: _Directives, name: str, arg: str) -> None:
    if name == "slow":
        directives.slow = float(arg)
    elif name == "delay":
        directives.delay = float(arg)
    elif name == "think":
        directives.think = True
    elif name == "refuse":
        directives.refuse = True
    elif name == "long":
        directives.long = int(arg)
    else:
        status, _, retry = arg.partition(":")
        directives.error = (int(status), float(retry) if retry else (0.0 if status == "429" else None))


def _close(text: str, pos: int) -> int:
    """Return the index just past the `]]` that closes a directive, allowing whitespace before it."""
    pos = len(text) - len(text[pos:].lstrip())
    if not text.startswith("]]", pos):
        raise ValueError("unclosed directive")
    return pos + 2


def _tool_input(text: str, pos: int) -> tuple[JsonObject, int]:
    pos = len(text) - len(text[pos:].lstrip())
    if not text.startswith("{", pos):
        return {}, pos
    value, pos = _JSON.raw_decode(text, pos)
    if not isinstance(value, dict):
        raise ValueError("tool input must be a JSON object")
    return cast(JsonObject, value), pos


def _parse_directives(text: str) -> tuple[_Directives, str]:
    """Split `text` into its directives and the text left once they are removed; malformed ones stay as text."""
    directives, kept, pos = _Directives(), list[str](), 0
    while match := _DIRECTIVE.search(text, pos):
        name, arg = match.group(1), match.group(2) or ""
        try:
            if name == "tool":
                if not arg:
                    raise ValueError("tool name missing")
                tool_input, end = _tool_input(text, match.end())
                end = _close(text, end)
                directives.tools.append((arg, tool_input))
            else:
                end = _close(text, match.end())
                _apply(directives, name, arg)
        except ValueError:
            kept.append(text[pos : match.end()])
            pos = match.end()
            continue
        kept.append(text[pos : match.start()])
        pos = end
    kept.append(text[pos:])
    return directives, re.sub(r" {2,}", " ", "".join(kept)).strip()


def _objects(value: object) -> list[JsonObject]:
    """Keep the JSON objects of a JSON array; anything else holds none."""
    if not isinstance(value, list):
        return []
    return [cast(JsonObject, item) for item in cast(list[object], value) if isinstance(item, dict)]


def _blocks(content: object) -> list[JsonObject]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else _objects(content)


def _text_of(content: object) -> str:
    return "\n".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def _prompt_text(messages: list[JsonObject]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and (text := _text_of(message.get("content"))):
            return text
    return ""


def _summarise_tool_results(messages: list[JsonObject], results: list[JsonObject]) -> str:
    names = {
        str(block.get("id")): str(block.get("name"))
        for message in messages
        if message.get("role") == "assistant"
        for block in _blocks(message.get("content"))
        if block.get("type") == "tool_use"
    }
    lines = [
        f"Tool {names.get(str(r.get('tool_use_id')), 'unknown')} returned: "
        + _text_of(r.get("content"))[:TOOL_RESULT_PREVIEW_CHARS]
        for r in results
    ]
    return "\n".join(lines)


def _content_for(messages: list[JsonObject], directives: _Directives, clean: str) -> tuple[str, list[ScriptedToolUse]]:
    last_user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    results = [b for b in _blocks(last_user) if b.get("type") == "tool_result"]
    if results:
        return _summarise_tool_results(messages, results), []
    if directives.tools:
        salt = str(len(messages))
        tools = [
            ScriptedToolUse(name, tool_input, tool_use_id(name, tool_input, f"{salt}:{i}"))
            for i, (name, tool_input) in enumerate(directives.tools)
        ]
        return f"Calling {', '.join(name for name, _ in directives.tools)}.", tools
    if directives.long is not None:
        return " ".join(LONG_WORDS[i % len(LONG_WORDS)] for i in range(directives.long)), []
    return f"You said: {clean}", []


def estimate_usage(request: JsonObject, reply: ScriptedReply) -> ScriptedUsage:
    """Estimate the usage of answering `request` with `reply`: input from its prompt, output from the reply."""
    prompt = json.dumps([request.get("system"), request.get("messages"), request.get("tools")], default=str)
    return ScriptedUsage(input_tokens=max(1, count_tokens(prompt)), output_tokens=estimate_output_tokens(reply))


def _cut_to_max_tokens(request: JsonObject, reply: ScriptedReply) -> ScriptedReply:
    max_tokens = request.get("max_tokens")
    if not isinstance(max_tokens, int) or estimate_output_tokens(reply) <= max_tokens or reply.stop_reason == "refusal":
        return reply
    room = max(0, max_tokens - count_tokens(reply.thinking or ""))
    return replace(reply, text=reply.text[: room * 4], tool_uses=(), stop_reason="max_tokens")


def plan_reply(request: JsonObject) -> ScriptedReply:
    """Plan the scripted model's reply to an Anthropic Messages API request body.

    Args:
        request: The request body (`model`, `system`, `messages`, `tools`, `max_tokens`, `thinking`, …).

    Returns:
        The reply the directives of the last prompt ask for (see the module docstring), with usage filled in.
    """
    messages = _objects(request.get("messages"))
    directives, clean = _parse_directives(_prompt_text(messages))
    if directives.error is not None:
        status, retry_after = directives.error
        return ScriptedReply(
            error_status=status,
            retry_after=retry_after,
            error_message=f"scripted error {status}",
            first_byte_delay=directives.delay,
        )
    text, tool_uses = _content_for(messages, directives, clean)
    stop_reason: StopReason = "tool_use" if tool_uses else "end_turn"
    if directives.refuse:
        text, tool_uses, stop_reason = REFUSAL_TEXT, [], "refusal"
    thinking = None
    if directives.think or any(p.get("type") in ("enabled", "adaptive") for p in _objects([request.get("thinking")])):
        thinking = f"The user wrote {len(clean)} characters. I will answer: {text[:80]}"
    reply = ScriptedReply(
        text=text,
        tool_uses=tool_uses,
        thinking=thinking,
        stop_reason=stop_reason,
        first_byte_delay=directives.delay,
        chunk_delay=directives.slow / SLOW_CHUNKS,
    )
    reply = _cut_to_max_tokens(request, reply)
    return replace(reply, usage=estimate_usage(request, reply))


def _openai_text(content: object) -> str:
    return content if isinstance(content, str) else _text_of(content)


def _append_user(messages: list[JsonObject], blocks: list[JsonObject]) -> None:
    # Anthropic alternates roles, so tool results and a following user message form one user turn.
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": "user", "content": blocks})


def _assistant_blocks(message: JsonObject) -> list[JsonObject]:
    blocks: list[JsonObject] = []
    if text := _openai_text(message.get("content")):
        blocks.append({"type": "text", "text": text})
    for call in _objects(message.get("tool_calls")):
        function = cast(JsonObject, call.get("function") or {})
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            arguments = {}
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    return blocks


def openai_request_to_anthropic(body: JsonObject) -> JsonObject:
    """Convert an OpenAI Chat Completions request body to the Anthropic Messages shape, so `plan_reply` answers both.

    System and developer messages become `system`, tool messages `tool_result` blocks, assistant `tool_calls`
    `tool_use` blocks, and `tools` / `max_completion_tokens` their Anthropic counterparts.
    """
    system: list[str] = []
    messages: list[JsonObject] = []
    for message in _objects(body.get("messages")):
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(_openai_text(content))
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_blocks(message)})
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": _openai_text(content),
            }
            _append_user(messages, [result])
        else:
            _append_user(messages, [{"type": "text", "text": _openai_text(content)}])
    functions = [cast(JsonObject, tool.get("function") or {}) for tool in _objects(body.get("tools"))]
    tools = [{"name": f.get("name"), "input_schema": f.get("parameters") or {"type": "object"}} for f in functions]
    converted: JsonObject = {"model": body.get("model"), "system": "\n".join(system), "messages": messages}
    converted.update(tools=tools, max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"))
    return converted


Planner = Callable[[JsonObject], ScriptedReply]


class _ByteStream(httpx2.AsyncByteStream):
    def __init__(self, chunks: AsyncGenerator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        await self._chunks.aclose()


class ScriptedTransport(httpx2.AsyncBaseTransport):
    """An `httpx2` transport that answers the Anthropic Messages API in-process from the scripted model.

    Streams (`"stream": true`) are paced by the reply's delays; errors carry the provider's error body and a
    `retry-after` header. The anthropic SDK 2.x is built on `httpx2` and refuses `httpx` clients, so::

        client = anthropic.AsyncAnthropic(
            api_key="scripted",
            base_url="http://scripted.local",
            http_client=httpx2.AsyncClient(transport=ScriptedTransport()),
            max_retries=0,
        )

    Args:
        planner: Plans each reply; `plan_reply` unless a test scripts its own.
    """

    def __init__(self, planner: Planner = plan_reply) -> None:
        self._planner = planner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = {"request-id": f"req_scripted_{uuid.uuid4().hex[:24]}"}
        path = request.url.path
        if request.method != "POST" or not path.endswith("/messages"):
            return httpx2.Response(404, headers=headers, json=anthropic_error_json(404, f"no route {path}"))
        try:
            body = json.loads(await request.aread())
        except ValueError:
            return httpx2.Response(400, headers=headers, json=anthropic_error_json(400, "body is not JSON"))
        return await self._messages(body, headers)

    async def _messages(self, body: JsonObject, headers: dict[str, str]) -> httpx2.Response:
        reply = self._planner(body)
        if reply.error_status is not None:
            await asyncio.sleep(reply.first_byte_delay)
            error = anthropic_error_json(reply.error_status, reply.error_message)
            return httpx2.Response(reply.error_status, headers={**headers, **error_headers(reply)}, json=error)
        reply = reply if reply.usage else replace(reply, usage=estimate_usage(body, reply))
        model, message_id = str(body.get("model") or SCRIPTED_MODEL_PREFIX), f"msg_scripted_{uuid.uuid4().hex[:24]}"
        if body.get("stream"):
            stream = _ByteStream(anthropic_sse_stream(reply, model, message_id))
            return httpx2.Response(200, headers={**headers, "content-type": "text/event-stream"}, stream=stream)
        await asyncio.sleep(reply_duration(reply))
        return httpx2.Response(200, headers=headers, json=anthropic_message_json(reply, model, message_id))
