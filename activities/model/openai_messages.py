"""Converts a Messages-API-shaped conversation into OpenAI's Chat Completions messages and tools.

Tool results become ``tool`` messages right after the assistant message that called them (the order Chat
Completions requires), images and PDFs become ``image_url`` / ``file`` parts of user messages, and reasoning or
thinking blocks are left out: Chat Completions takes no reasoning back.
"""

from __future__ import annotations

import json
from typing import Any, cast

Block = dict[str, Any]
TOOL_RESULT_IMAGE = "[image omitted: this model reads tool results as text]"


def _data_uri(source: Block) -> str:
    return f"data:{source.get('media_type', 'application/octet-stream')};base64,{source.get('data', '')}"


def _text(block: Block) -> str:
    """A block as plain text (for places that take text only)."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "document":
        source: Block = block.get("source") or {}
        if source.get("type") == "text":
            return str(source.get("data", ""))
        return f"[document {block.get('title') or source.get('url') or ''} omitted]".replace("  ", " ")
    if kind == "search_result":
        content: list[Any] = block.get("content") or []
        parts = [str(cast(Block, part).get("text", "")) for part in content if isinstance(part, dict)]
        return f"{block.get('title', '')} ({block.get('source', '')})\n" + "\n".join(parts)
    if kind == "image":
        return TOOL_RESULT_IMAGE
    return ""


def user_part(block: Block) -> Block | None:
    """A user content block as a Chat Completions content part."""
    kind = block.get("type")
    source: Block = block.get("source") or {}
    if kind == "image":
        url = source.get("url") if source.get("type") == "url" else _data_uri(source)
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and source.get("type") == "base64":
        name = str(block.get("title") or "document.pdf")
        return {"type": "file", "file": {"filename": name, "file_data": _data_uri(source)}}
    text = _text(block)
    return {"type": "text", "text": text} if text else None


def tool_result_text(block: Block) -> str:
    """A ``tool_result`` block's content as text; errors say so, since Chat Completions has no error flag."""
    content: Any = block.get("content")
    if isinstance(content, str):
        text = content
    else:
        parts: list[Any] = content or []
        text = "\n".join(_text(cast(Block, part)) for part in parts if isinstance(part, dict))
    return f"Error: {text}" if block.get("is_error") else text


def _assistant(content: list[Block]) -> Block:
    text = "".join(str(block.get("text", "")) for block in content if block.get("type") == "text")
    message: Block = {"role": "assistant", "content": text or None}
    calls = [
        {
            "id": block["id"],
            "type": "function",
            "function": {"name": block.get("name", ""), "arguments": json.dumps(block.get("input") or {})},
        }
        for block in content
        if block.get("type") == "tool_use"
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def chat_messages(system: str | None, messages: list[Block]) -> list[Block]:
    """The Chat Completions ``messages`` for a system prompt and a Messages-API-shaped conversation."""
    converted: list[Block] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        content: list[Block] = message["content"]
        if message["role"] == "assistant":
            assistant = _assistant(content)
            if assistant["content"] is not None or "tool_calls" in assistant:
                converted.append(assistant)
            continue
        for block in content:
            if block.get("type") == "tool_result":
                converted.append(
                    {"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": tool_result_text(block)}
                )
        parts = [part for block in content if block.get("type") != "tool_result" and (part := user_part(block))]
        if parts:
            converted.append({"role": "user", "content": parts})
    return converted


def chat_tools(tools: list[Block]) -> list[Block]:
    """Messages API tool definitions as Chat Completions function tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema") or {"type": "object"},
            },
        }
        for tool in tools
    ]
