"""The OpenAI Responses API provider (opt-in: kind ``openai_responses``): one streaming request per model call.

The conversation goes in as input items (messages, ``function_call`` and ``function_call_output``) with
``store: false``, so nothing is kept on the provider's side; reasoning summaries come back as ``agent.thinking``.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from activities.model.openai_chat import fill_usage, parse_arguments
from activities.model.openai_messages import tool_result_text, user_part
from activities.model.request import ModelRequest
from activities.model.result import ModelResult, StreamSink, ToolCall

Item = dict[str, Any]
_REASONING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})


class ResponseFailed(Exception):
    """The provider ended the stream with an error event (``code`` is its error code, when it sent one)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


def _input_part(part: Item) -> Item:
    kind = part["type"]
    if kind == "image_url":
        return {"type": "input_image", "image_url": part["image_url"]["url"], "detail": "auto"}
    if kind == "file":
        return {"type": "input_file", **part["file"]}
    return {"type": "input_text", "text": part["text"]}


def _assistant_items(content: list[Item]) -> list[Item]:
    items: list[Item] = []
    text = "".join(str(block.get("text", "")) for block in content if block.get("type") == "text")
    if text:
        items.append({"role": "assistant", "content": text})
    items.extend(
        {
            "type": "function_call",
            "call_id": block["id"],
            "name": block.get("name", ""),
            "arguments": json.dumps(block.get("input") or {}),
        }
        for block in content
        if block.get("type") == "tool_use"
    )
    return items


def input_items(messages: list[Item]) -> list[Item]:
    """A Messages-API-shaped conversation as Responses input items."""
    items: list[Item] = []
    for message in messages:
        content: list[Item] = message["content"]
        if message["role"] == "assistant":
            items.extend(_assistant_items(content))
            continue
        items.extend(
            {"type": "function_call_output", "call_id": block.get("tool_use_id", ""), "output": tool_result_text(block)}
            for block in content
            if block.get("type") == "tool_result"
        )
        parts = [part for block in content if block.get("type") != "tool_result" and (part := user_part(block))]
        if parts:
            items.append({"role": "user", "content": [_input_part(part) for part in parts]})
    return items


def responses_params(request: ModelRequest) -> dict[str, Any]:
    """The ``responses.create`` arguments for a request."""
    params: dict[str, Any] = {
        "model": request.model,
        "input": input_items(request.messages),
        "max_output_tokens": request.max_tokens,
        "store": False,
    }
    if request.system:
        params["instructions"] = request.system
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema") or {"type": "object"},
                "strict": False,
            }
            for tool in request.tools
        ]
    if request.effort:
        params["reasoning"] = {"effort": request.effort, "summary": "auto"}
    if request.speed == "fast":
        params["service_tier"] = "priority"
    return params


class _ResponsesFold:
    """Accumulates stream events: a text block per output message, one reasoning block, finished function calls."""

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink
        self.result = ModelResult()
        self.text_index: dict[int, int] = {}
        self.reasoning: list[str] = []
        self.refused = False

    def text(self, output_index: int, fragment: str) -> None:
        if output_index not in self.text_index:
            self.text_index[output_index] = len(self.result.texts)
            self.result.texts.append("")
            self.sink.text_started(self.text_index[output_index])
        position = self.text_index[output_index]
        self.result.texts[position] += fragment
        self.sink.text_delta(position, fragment)

    def finished(self, response: Any, incomplete: bool) -> None:
        usage = response.usage
        if usage is not None:
            details = usage.input_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
            fill_usage(self.result.usage, usage.input_tokens or 0, usage.output_tokens or 0, cached)
        if incomplete:
            self.result.stop_reason = "max_tokens"

    def event(self, event: Any) -> None:
        kind = event.type
        if kind == "response.output_text.delta":
            self.text(event.output_index, event.delta)
        elif kind == "response.refusal.delta":
            self.refused = True
            self.text(event.output_index, event.delta)
        elif kind in _REASONING_DELTAS:
            if not self.reasoning:
                self.sink.thinking_started()
            self.reasoning.append(event.delta)
        elif kind == "response.output_item.done" and event.item.type == "function_call":
            self.result.tool_calls.append(ToolCall(event.item.name, parse_arguments(event.item.arguments)))
        elif kind in ("response.completed", "response.incomplete"):
            self.finished(event.response, kind == "response.incomplete")
        elif kind in ("response.failed", "error"):
            error = getattr(event, "response", None) and event.response.error
            source = error or event
            message = getattr(source, "message", None) or "the provider reported a failed response"
            raise ResponseFailed(str(message), getattr(source, "code", None))

    def finish(self) -> ModelResult:
        if self.reasoning:
            self.result.thinking_blocks.append({"type": "reasoning", "text": "".join(self.reasoning)})
        if self.refused:
            self.result.stop_reason = "refusal"
        elif self.result.tool_calls:
            self.result.stop_reason = "tool_use"
        return self.result


class OpenAIResponsesProvider:
    """The Responses API through one ``AsyncOpenAI`` client."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client

    async def stream(self, request: ModelRequest, sink: StreamSink) -> ModelResult:
        fold = _ResponsesFold(sink)
        stream = await self.client.responses.create(**responses_params(request), stream=True)
        async with stream:
            async for event in stream:
                fold.event(event)
        return fold.finish()
