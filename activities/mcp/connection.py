"""Talks to one MCP server with the official ``mcp`` client: list its tools, call one, with a bearer token or none.

Every operation opens its own connection (streamable HTTP; the older SSE transport when the server answers the
streamable POST with 404 or 405) and closes it, so nothing is pinned to a worker between calls. Failures come out as
three kinds: the server could not be reached or answered 5xx (``McpUnreachable``, worth retrying), it refused the
credential with 401/403 (``McpUnauthorized``), or it answered the request with a JSON-RPC error (``McpCallError``,
a result the model should see). A tool's own ``isError`` result is not a failure at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Implementation, Tool

T = TypeVar("T")
CONNECT_SECONDS = 10.0
# A tool may take long; the activity's own timeout and heartbeats bound the wait, not the HTTP read timeout.
READ_SECONDS = 15 * 60.0
LIST_PAGES = 20
CLIENT_INFO = Implementation(name="dma", version="0.1.0")
# The server answered the transport itself with one of these: the endpoint does not speak streamable HTTP.
NOT_STREAMABLE = frozenset({404, 405})
# MCPError code the client raises for an HTTP error response (the status is in the statuses it saw).
TRANSPORT_ERROR_CODE = -32603


class McpFailure(Exception):
    """Something kept the request from getting an answer from the MCP server (the message names no secret).

    ``method`` is the MCP step that failed (``initialize`` while connecting, else the request's method) and
    ``response`` the HTTP error response seen, if any (for the validation probe).
    """

    def __init__(self, message: str, method: str = "initialize", response: httpx2.Response | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.response = response


class McpUnreachable(McpFailure):
    """The server could not be reached, timed out or answered 5xx."""


class McpUnauthorized(McpFailure):
    """The server refused the credential (401 or 403)."""


class McpCallError(McpFailure):
    """The server answered with a JSON-RPC error (unknown tool, invalid arguments, ...)."""


@dataclass
class _Seen:
    statuses: list[int] = field(default_factory=list[int])
    failed: httpx2.Response | None = None
    connected: bool = False

    async def record(self, response: httpx2.Response) -> None:
        self.statuses.append(response.status_code)
        if response.status_code >= 400 and self.failed is None:
            # Error bodies are short; read now, while the stream is open, for the probe to report.
            await response.aread()
            self.failed = response


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        group: BaseExceptionGroup[BaseException] = error  # pyright: ignore[reportUnknownVariableType] - any group
        return [leaf for inner in group.exceptions for leaf in _leaves(inner)]
    return [error]


def _classify(error: BaseException, seen: _Seen, url: str, method: str) -> McpFailure:
    step = method if seen.connected else "initialize"
    status = seen.failed.status_code if seen.failed is not None else None
    if status in (401, 403):
        return McpUnauthorized(f"the MCP server at {url} refused the credential (HTTP {status})", step, seen.failed)
    leaves = _leaves(error)
    rpc = next((leaf for leaf in leaves if isinstance(leaf, MCPError)), None)
    if rpc is not None and rpc.error.code != TRANSPORT_ERROR_CODE:
        return McpCallError(f"the MCP server answered with an error: {rpc.error.message[:500]}", step)
    if status is not None and status < 500:
        return McpCallError(f"the MCP server at {url} answered HTTP {status}", step, seen.failed)
    transport = next((leaf for leaf in leaves if isinstance(leaf, httpx2.HTTPError | OSError)), leaves[0])
    detail = f"HTTP {status}" if status is not None else type(transport).__name__
    return McpUnreachable(f"could not reach the MCP server at {url} ({detail})", step, seen.failed)


def _http(token: str | None, seen: _Seen) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(CONNECT_SECONDS, read=READ_SECONDS),
        event_hooks={"response": [seen.record]},
    )


async def _with_client(url: str, token: str | None, method: str, work: Callable[[Client], Awaitable[T]]) -> T:
    seen = _Seen()
    try:
        async with _http(token, seen) as http:
            async with Client(streamable_http_client(url, http_client=http), client_info=CLIENT_INFO) as client:
                seen.connected = True
                return await work(client)
    except Exception as error:  # noqa: BLE001 - every failure is classified below, none is swallowed
        if not (seen.statuses and seen.statuses[0] in NOT_STREAMABLE):
            raise _classify(error, seen, url, method) from None
    # An older server: the SSE transport at the same URL.
    seen = _Seen()
    headers = {"Authorization": f"Bearer {token}"} if token else None

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,  # noqa: ARG001 - ours are the timeouts that apply
        auth: httpx2.Auth | None = None,  # noqa: ARG001 - the bearer header is the only auth
    ) -> httpx2.AsyncClient:
        client = _http(None, seen)
        client.headers.update(headers or {})
        return client

    try:
        transport = sse_client(url, headers=headers, timeout=CONNECT_SECONDS, httpx_client_factory=factory)
        async with Client(transport, client_info=CLIENT_INFO, mode="legacy") as client:
            seen.connected = True
            return await work(client)
    except Exception as error:  # noqa: BLE001 - classified, as above
        raise _classify(error, seen, url, method) from None


async def list_tools(url: str, token: str | None) -> list[Tool]:
    """Every tool the server offers (following pagination for a bounded number of pages).

    Raises:
        McpFailure: a subclass saying why there is no answer.
    """

    async def work(client: Client) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    return await _with_client(url, token, "tools/list", work)


async def call_tool(url: str, token: str | None, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """Call one tool; its own error results (``is_error``) come back as results.

    Raises:
        McpFailure: a subclass saying why there is no result.
    """

    async def work(client: Client) -> CallToolResult:
        return await client.call_tool(name, arguments)

    return await _with_client(url, token, "tools/call", work)
