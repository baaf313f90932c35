"""Builds a Messages API request from the session's event log (the workflow never passes the conversation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from activities.tools.definitions import BUILTIN_TOOLS, enabled_builtin_tools
from dma.store.tables import SessionEvent

Block = dict[str, Any]
FileSources = dict[str, dict[str, Any]]
Message = dict[str, Any]
Turn = tuple[str, list[Block]]
# What one row gives a request, worked out once per row and kept with the cached log (``history_cache``): its turn,
# None (not part of the conversation), or RESOLVE: a user message with ``file`` sources, which are resolved anew for
# each request (a file can be deleted meanwhile). A long session's log is mostly rows read before: converting all of
# them again was most of what a request's context cost after a few hundred turns.
RESOLVE: Literal["resolve"] = "resolve"
RowTurn = Turn | None | Literal["resolve"]

TOOL_USE_TYPES = {"agent.tool_use": "builtin", "agent.custom_tool_use": "custom", "agent.mcp_tool_use": "mcp"}
_RESULT_ID_FIELD = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
    "user.tool_result": "tool_use_id",
}


def _source(source: dict[str, Any], files: FileSources) -> dict[str, Any] | None:
    kind = source.get("type")
    if kind == "file":
        # Resolved beforehand from the Files API (``session_context.file_sources``); absent when unavailable.
        return files.get(str(source.get("file_id", "")))
    if kind == "base64":
        return {"type": "base64", "media_type": source.get("media_type"), "data": source.get("data")}
    if kind == "url":
        return {"type": "url", "url": source.get("url")}
    if kind == "text":
        return {"type": "text", "media_type": "text/plain", "data": source.get("data", "")}
    return None


def _content_block(block: dict[str, Any], files: FileSources) -> Block | None:
    """A wire content block as the Messages API wants it; blocks it cannot take are left out."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind in ("image", "document"):
        source = _source(block.get("source", {}), files)
        if source is None:
            return {"type": "text", "text": f"[{kind} {block.get('source', {}).get('file_id', '')} not available]"}
        if kind == "image" and source["type"] == "text":
            return {"type": "text", "text": f"[image {block.get('source', {}).get('file_id', '')} is not an image]"}
        converted: Block = {"type": kind, "source": source}
        for key in ("title", "context"):
            if kind == "document" and block.get(key):
                converted[key] = block[key]
        return converted
    if kind == "search_result":
        return {key: block[key] for key in ("type", "source", "title", "content", "citations") if key in block}
    return None


def _blocks(content: list[dict[str, Any]], files: FileSources | None = None) -> list[Block]:
    return [converted for block in content if (converted := _content_block(block, files or {})) is not None]


# The event types a model request reads; the rest of the log (status, spans, usage, …) is skipped on one lookup:
# most rows of a long session are of those, and each ORM attribute read costs.
CONTEXT_TYPES = frozenset(
    {"user.message", "system.message", "agent.message", "agent.thinking", *TOOL_USE_TYPES, *_RESULT_ID_FIELD}
)


def _event_blocks(row: SessionEvent, files: FileSources) -> Turn | None:
    kind = row.type
    if kind not in CONTEXT_TYPES:
        return None
    body = row.body
    if kind == "user.message":
        return "user", _blocks(body.get("content", []), files)
    if kind == "system.message":
        text = "\n".join(block.get("text", "") for block in body.get("content", []))
        return "user", [{"type": "text", "text": f"<system>{text}</system>"}]
    if kind == "agent.message":
        return "assistant", _blocks(body.get("content", []))
    if kind == "agent.thinking":
        return "assistant", list((row.extra or {}).get("blocks", []))
    if kind in TOOL_USE_TYPES:
        # An MCP call carries the server's tool name; the model called it by the name it was offered.
        name = (row.extra or {}).get("model_name") or body.get("name", "")
        return "assistant", [{"type": "tool_use", "id": row.id, "name": name, "input": body.get("input", {})}]
    result: Block = {"type": "tool_result", "tool_use_id": body.get(_RESULT_ID_FIELD[kind], "")}
    result["content"] = _blocks(body.get("content") or []) or [{"type": "text", "text": "(no output)"}]
    if body.get("is_error"):
        result["is_error"] = True
    return "user", [result]


def _merge(turns: list[tuple[str, list[Block]]]) -> list[Message]:
    messages: list[Message] = []
    for role, blocks in turns:
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": list(blocks)})
    return messages


def _repair(messages: list[Message]) -> list[Message]:
    """Keep the conversation valid: every tool_use answered right after it, tool results first in their message."""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        use_ids = [block["id"] for block in message["content"] if block.get("type") == "tool_use"]
        if not use_ids:
            continue
        if index + 1 == len(messages) or messages[index + 1]["role"] != "user":
            messages.insert(index + 1, {"role": "user", "content": []})
        reply = messages[index + 1]
        answered = {block.get("tool_use_id") for block in reply["content"] if block.get("type") == "tool_result"}
        missing = [
            {
                "type": "tool_result",
                "tool_use_id": use_id,
                "is_error": True,
                "content": "No result: the call was cut off.",
            }
            for use_id in use_ids
            if use_id not in answered
        ]
        results = [block for block in reply["content"] if block.get("type") == "tool_result"]
        others = [block for block in reply["content"] if block.get("type") != "tool_result"]
        reply["content"] = results + missing + others
    return messages


def named_file(block: object) -> str | None:
    """The file id an image or document block's ``file`` source names (None for any other block)."""
    if not isinstance(block, dict):
        return None
    fields = cast("dict[str, Any]", block)
    source: object = fields.get("source")
    if fields.get("type") not in ("image", "document") or not isinstance(source, dict):
        return None
    named = cast("dict[str, Any]", source)
    return str(named.get("file_id", "")) if named.get("type") == "file" else None


def row_turn(row: SessionEvent) -> RowTurn:
    """What ``row`` gives every request from now on (its blocks are shared: nothing may change them)."""
    content: list[object] = (row.body.get("content") or []) if row.type == "user.message" else []
    if any(named_file(block) is not None for block in content):
        return RESOLVE
    return _event_blocks(row, {})


def build_messages(
    rows: Sequence[SessionEvent], files: FileSources | None = None, turns: Sequence[RowTurn] | None = None
) -> list[Message]:
    """The conversation so far, from processed events in stream order; ``files`` resolves ``file`` sources.

    ``turns``, when given, holds ``row_turn`` of each row (as the history cache keeps them).
    """
    sources = files or {}
    if turns is None:
        found = [turn for row in rows if (turn := _event_blocks(row, sources)) is not None]
    else:
        found: list[Turn] = []
        for row, known in zip(rows, turns, strict=True):
            turn = _event_blocks(row, sources) if known == RESOLVE else known
            if turn is not None:
                found.append(turn)
    return _repair(_merge(found))


def build_tools(agent: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool definitions for the model: enabled built-in tools and custom tools (``activities.mcp`` adds MCP tools)."""
    tools: list[dict[str, Any]] = []
    for entry in agent.get("tools", []):
        if entry.get("type") == "agent_toolset_20260401":
            tools.extend({"name": name, **BUILTIN_TOOLS[name]} for name in enabled_builtin_tools(entry))
        elif entry.get("type") == "custom":
            tools.append(
                {
                    "name": entry["name"],
                    "description": entry.get("description", ""),
                    "input_schema": entry["input_schema"],
                }
            )
    return tools


def tool_kind(agent: dict[str, Any], name: str) -> str:
    """Whether a tool the model called is a custom tool (run by the client) or built in."""
    for entry in agent.get("tools", []):
        if entry.get("type") == "custom" and entry.get("name") == name:
            return "custom"
    return "builtin"
