"""The built-in ``dma://wakeups`` MCP server: the model's tools to wake its own session later.

``wake_me`` (a short ``reason`` and exactly one of ``in_seconds``, ``at``, ``cron`` with ``timezone``,
``every_seconds``), ``list_wakeups`` and ``cancel_wakeup`` call ``dma.wakeups.Wakeups``, the interface the REST
extension uses too. It is a real MCP server of the official SDK (a low-level ``Server``), built for one call and
bound to that call's session: the session id comes from the activity's request, never from the model's input.

A wakeup that ``wake_me`` creates takes its id from the tool call's event id, so a retried activity finds the wakeup
its earlier attempt created instead of creating a second one. Refusals (limits, bad input, an unknown wakeup, an
unreachable Temporal) are the tool's error results (``isError``): the model reads them and the turn goes on.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import Server, ServerRequestContext
from mcp_types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, TextContent, Tool
from pydantic import ValidationError

from dma.ids import derived_id
from dma.schemas.common import DomainError, describe_validation_error
from dma.schemas.wakeups import MAX_SECONDS, WakeupCreate, wakeup_response
from dma.wakeups import Wakeups

SERVER_NAME = "dma-wakeups"
LIST_LIMIT = 100

_SECONDS = {"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}
WAKE_ME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "description": "A short note to yourself; it comes back to you when the wakeup fires.",
        },
        "in_seconds": {**_SECONDS, "description": "Wake once, this many seconds from now."},
        "at": {"type": "string", "format": "date-time", "description": "Wake once at this RFC 3339 time."},
        "cron": {
            "type": "string",
            "description": "Wake repeatedly on this 5-field cron schedule (minute hour day-of-month month weekday).",
        },
        "timezone": {"type": "string", "description": "IANA timezone of `cron` (default UTC); only with `cron`."},
        "every_seconds": {**_SECONDS, "description": "Wake repeatedly, every this many seconds."},
    },
    "required": ["reason"],
    "additionalProperties": False,
}
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "include_inactive": {
            "type": "boolean",
            "description": "Also list wakeups that already fired or were cancelled (default false).",
        }
    },
    "additionalProperties": False,
}
CANCEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"wakeup_id": {"type": "string", "description": "The id of the wakeup (wake_...)."}},
    "required": ["wakeup_id"],
    "additionalProperties": False,
}
TOOLS = [
    Tool(
        name="wake_me",
        description=(
            "Schedule a wakeup of this session: when it fires, a new turn starts with a system message carrying "
            "your reason. Give the reason and exactly one of in_seconds, at, cron (with timezone) or every_seconds."
        ),
        input_schema=WAKE_ME_SCHEMA,
    ),
    Tool(name="list_wakeups", description="List this session's pending wakeups.", input_schema=LIST_SCHEMA),
    Tool(name="cancel_wakeup", description="Cancel one of this session's wakeups.", input_schema=CANCEL_SCHEMA),
]


class _Refused(Exception):
    """The arguments break the tool's input schema."""


def _checked(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(arguments) - set(schema["properties"]))
    if unknown:
        raise _Refused(f"unknown argument(s): {', '.join(unknown)}")
    missing = [name for name in schema.get("required", []) if name not in arguments]
    if missing:
        raise _Refused(f"missing argument(s): {', '.join(missing)}")
    return arguments


def wake_request(arguments: dict[str, Any]) -> WakeupCreate:
    """The wakeup that ``wake_me`` asks for, in the REST extension's terms.

    Raises:
        ValidationError: a value of the wrong type or out of range.
        _Refused: unknown or missing arguments, or a timezone without cron.
    """
    given = dict(_checked(arguments, WAKE_ME_SCHEMA))
    timezone = given.pop("timezone", None)
    if timezone is not None and given.get("cron") is None:
        raise _Refused("timezone goes with cron")
    if given.get("cron") is not None:
        given["cron"] = {"expression": given["cron"], **({"timezone": timezone} if timezone is not None else {})}
    return WakeupCreate.model_validate(given)


def _result(payload: dict[str, Any]) -> CallToolResult:
    text = json.dumps(payload, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=payload)


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class WakeupTools:
    """The three tools for one session (and, for ``wake_me``, one tool call)."""

    def __init__(self, wakeups: Wakeups, session_id: str, call_id: str | None) -> None:
        self._wakeups = wakeups
        self._session_id = session_id
        self._call_id = call_id

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Run one tool; every refusal is an error result."""
        try:
            if name == "wake_me":
                return await self._wake_me(arguments)
            if name == "list_wakeups":
                return await self._list(arguments)
            if name == "cancel_wakeup":
                return await self._cancel(arguments)
        except ValidationError as err:
            return _error(f"invalid arguments: {describe_validation_error(err)}")
        except (_Refused, DomainError) as err:
            return _error(str(err))
        return _error(f"unknown tool {name[:100]!r}; this server has wake_me, list_wakeups and cancel_wakeup")

    async def _wake_me(self, arguments: dict[str, Any]) -> CallToolResult:
        request = wake_request(arguments)
        wakeup_id = derived_id("wake", self._call_id) if self._call_id is not None else None
        row = await self._wakeups.create(self._session_id, request, wakeup_id=wakeup_id)
        return _result(wakeup_response(row))

    async def _list(self, arguments: dict[str, Any]) -> CallToolResult:
        include = _checked(arguments, LIST_SCHEMA).get("include_inactive", False)
        if not isinstance(include, bool):
            raise _Refused("include_inactive must be a boolean")
        rows = await self._wakeups.list(self._session_id, include_inactive=include, limit=LIST_LIMIT)
        payload = {"data": [wakeup_response(row) for row in rows[:LIST_LIMIT]], "has_more": len(rows) > LIST_LIMIT}
        return _result(payload)

    async def _cancel(self, arguments: dict[str, Any]) -> CallToolResult:
        wakeup_id = _checked(arguments, CANCEL_SCHEMA)["wakeup_id"]
        if not isinstance(wakeup_id, str):
            raise _Refused("wakeup_id must be a string")
        return _result(wakeup_response(await self._wakeups.cancel(self._session_id, wakeup_id)))


def wakeup_server(wakeups: Wakeups, session_id: str, call_id: str | None = None) -> Server[Any]:
    """The MCP server of the wakeup tools, bound to one session (and the tool call that uses it, if any)."""
    tools = WakeupTools(wakeups, session_id, call_id)

    async def list_tools(_ctx: ServerRequestContext[Any], _params: PaginatedRequestParams | None) -> ListToolsResult:
        return ListToolsResult(tools=TOOLS)

    async def call_tool(_ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        return await tools.call(params.name, dict(params.arguments or {}))

    return Server(SERVER_NAME, on_list_tools=list_tools, on_call_tool=call_tool)
