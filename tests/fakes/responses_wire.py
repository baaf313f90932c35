"""The OpenAI Responses API for the fake model server.

Requests are converted for the scripted planner; replies are encoded as the JSON body or the stream of typed events
the real API sends, which the ``openai`` SDK parses unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from activities.model.scripted_wire import ScriptedReply, ScriptedUsage, sse_frame, tool_use_id

Body = dict[str, Any]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))


def _append(messages: list[Body], role: str, blocks: list[Body]) -> None:
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def responses_request_to_anthropic(body: Body) -> Body:
    """A Responses request as a Messages API body, so the scripted planner answers it."""
    messages: list[Body] = []
    raw = body.get("input") or []
    for item in [{"role": "user", "content": raw}] if isinstance(raw, str) else raw:
        kind = item.get("type")
        if kind == "function_call":
            arguments = json.loads(item.get("arguments") or "{}")
            tool_use = {"type": "tool_use", "id": item.get("call_id"), "name": item.get("name"), "input": arguments}
            _append(messages, "assistant", [tool_use])
        elif kind == "function_call_output":
            result = {"type": "tool_result", "tool_use_id": item.get("call_id"), "content": str(item.get("output"))}
            _append(messages, "user", [result])
        elif item.get("role") in ("user", "assistant"):
            _append(messages, str(item["role"]), [{"type": "text", "text": _text(item.get("content"))}])
    tools = [{"name": t.get("name"), "input_schema": t.get("parameters") or {}} for t in body.get("tools") or []]
    reasoning = body.get("reasoning") or {}
    converted: Body = {"model": body.get("model"), "system": body.get("instructions") or "", "messages": messages}
    converted.update(tools=tools, max_tokens=body.get("max_output_tokens"))
    if reasoning.get("effort"):
        converted["thinking"] = {"type": "enabled"}
    return converted


def _usage(usage: ScriptedUsage) -> Body:
    prompt = usage.input_tokens + usage.cache_read_input_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_input_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }


def _output(reply: ScriptedReply, response_id: str) -> list[Body]:
    items: list[Body] = []
    if reply.thinking is not None:
        summary = [{"type": "summary_text", "text": reply.thinking}]
        items.append({"type": "reasoning", "id": f"rs_{response_id}", "summary": summary})
    if reply.text:
        kind = "refusal" if reply.stop_reason == "refusal" else "output_text"
        part: Body = {"type": kind, kind.replace("output_", ""): reply.text}
        if kind == "output_text":
            part["annotations"] = []
        items.append(
            {
                "type": "message",
                "id": f"msg_{response_id}",
                "role": "assistant",
                "status": "completed",
                "content": [part],
            }
        )
    for index, tool in enumerate(reply.tool_uses):
        call_id = tool.id or tool_use_id(tool.name, tool.input, f"{response_id}:{index}").replace("toolu_", "call_")
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{response_id}_{index}",
                "call_id": call_id,
                "name": tool.name,
                "arguments": json.dumps(tool.input),
                "status": "completed",
            }
        )
    return items


def responses_json(reply: ScriptedReply, model: str, response_id: str, usage: ScriptedUsage) -> Body:
    """The complete Responses API body for ``reply``."""
    incomplete = reply.stop_reason == "max_tokens"
    return {
        "id": response_id,
        "object": "response",
        "created_at": 0,
        "model": model,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "output": _output(reply, response_id),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": _usage(usage),
        "error": None,
    }


def _item_events(index: int, item: Body) -> Iterator[Body]:
    opened = {**item, "status": "in_progress"}
    if item["type"] == "message":
        opened["content"] = []
    if item["type"] == "function_call":
        opened["arguments"] = ""
    yield {"type": "response.output_item.added", "output_index": index, "item": opened}
    if item["type"] == "reasoning":
        for summary_index, part in enumerate(item["summary"]):
            delta = {"item_id": item["id"], "output_index": index, "summary_index": summary_index}
            yield {"type": "response.reasoning_summary_text.delta", **delta, "delta": part["text"]}
    elif item["type"] == "message":
        for content_index, part in enumerate(item["content"]):
            place = {"item_id": item["id"], "output_index": index, "content_index": content_index}
            if part["type"] == "refusal":
                yield {"type": "response.refusal.delta", **place, "delta": part["refusal"]}
                continue
            for start in range(0, len(part["text"]), 16):
                piece = part["text"][start : start + 16]
                yield {"type": "response.output_text.delta", **place, "delta": piece, "logprobs": []}
            yield {"type": "response.output_text.done", **place, "text": part["text"], "logprobs": []}
    else:
        place = {"item_id": item["id"], "output_index": index}
        yield {"type": "response.function_call_arguments.delta", **place, "delta": item["arguments"]}
        yield {"type": "response.function_call_arguments.done", **place, "arguments": item["arguments"]}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def responses_events(reply: ScriptedReply, model: str, response_id: str, usage: ScriptedUsage) -> Iterator[Body]:
    """The typed stream events of ``reply``, numbered by ``sequence_number``."""
    final = responses_json(reply, model, response_id, usage)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[Body] = [{"type": "response.created", "response": started}]
    for index, item in enumerate(final["output"]):
        events.extend(_item_events(index, item))
    events.append({"type": f"response.{final['status']}", "response": final})
    for number, event in enumerate(events):
        yield {**event, "sequence_number": number}


async def responses_sse_stream(
    reply: ScriptedReply, model: str, response_id: str, usage: ScriptedUsage
) -> AsyncGenerator[bytes]:
    """The SSE frames of a streamed Responses reply (``event:`` lines carry each event's type)."""
    await asyncio.sleep(reply.first_byte_delay)
    for event in responses_events(reply, model, response_id, usage):
        if event["type"].endswith(".delta") and reply.chunk_delay > 0:
            await asyncio.sleep(reply.chunk_delay)
        yield sse_frame(event["type"], event)
