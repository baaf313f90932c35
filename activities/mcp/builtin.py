"""Serves the built-in MCP servers (``dma://…``, see ``dma.builtin_mcp``) inside the worker, with no network hop.

Each operation builds the server for the session (and call) at hand and talks to it through the official ``mcp``
client's in-process connection (``mcp.Client(server)``), so the tools are listed and called by the same MCP requests
and results as a remote server's; only the transport differs. No credential is involved: the server acts for the
session the activity names, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mcp import Client
from mcp.server import Server
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Tool

from activities.mcp.connection import CLIENT_INFO, McpCallError
from activities.mcp.wakeup_server import wakeup_server
from dma.builtin_mcp import WAKEUPS_URL, is_builtin
from dma.wakeups import Wakeups

# (session id, the tool call's event id or None when only listing) -> the server for that session.
ServerFactory = Callable[[str, str | None], Server[Any]]


def _failed(url: str, err: MCPError, method: str) -> McpCallError:
    return McpCallError(f"the built-in MCP server {url} failed: {err.error.message[:500]}", method)


class BuiltinServers:
    """The built-in MCP servers of one worker, by URL."""

    def __init__(self, factories: Mapping[str, ServerFactory]) -> None:
        self._factories = dict(factories)

    @classmethod
    def of(cls, wakeups: Wakeups) -> BuiltinServers:
        """Every built-in server, wired to the worker's services."""
        return cls({WAKEUPS_URL: lambda session_id, call_id: wakeup_server(wakeups, session_id, call_id)})

    @staticmethod
    def serves(url: str) -> bool:
        """Whether the URL is one of ours (``dma://``) rather than a network address."""
        return is_builtin(url)

    def _server(self, url: str, session_id: str, call_id: str | None) -> Server[Any]:
        factory = self._factories.get(url)
        if factory is None:
            raise McpCallError(f"there is no built-in MCP server at {url[:200]}", "tools/list")
        return factory(session_id, call_id)

    async def list_tools(self, url: str, session_id: str) -> list[Tool]:
        """The server's tools.

        Raises:
            McpCallError: no such built-in server, or the server failed.
        """
        try:
            async with Client(self._server(url, session_id, None), client_info=CLIENT_INFO) as client:
                return list((await client.list_tools()).tools)
        except MCPError as err:
            raise _failed(url, err, "tools/list") from None

    async def call_tool(
        self, url: str, session_id: str, call_id: str, name: str, arguments: dict[str, Any]
    ) -> CallToolResult:
        """Call one tool for the session; its refusals come back as error results.

        Raises:
            McpCallError: no such built-in server, or the server failed.
        """
        try:
            async with Client(self._server(url, session_id, call_id), client_info=CLIENT_INFO) as client:
                return await client.call_tool(name, arguments)
        except MCPError as err:
            raise _failed(url, err, "tools/call") from None
