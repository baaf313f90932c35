"""The built-in MCP servers: reserved ``dma://`` URLs that the worker serves in-process, with no network hop.

An agent names one like any MCP server (``{"type": "url", "name": "wakeups", "url": "dma://wakeups"}`` plus an
``mcp_toolset``), so its configuration stays valid for the official SDK and the usual permission policies apply. The
API accepts exactly these URLs under the ``dma`` scheme; the worker (``activities.mcp.builtin``) serves them.
"""

from __future__ import annotations

BUILTIN_SCHEME = "dma://"
WAKEUPS_URL = "dma://wakeups"
BUILTIN_MCP_URLS = frozenset({WAKEUPS_URL})


def is_builtin(url: str) -> bool:
    """Whether the URL uses the reserved scheme (known or not)."""
    return url.lower().startswith(BUILTIN_SCHEME)


def builtin_url_problem(url: str) -> str | None:
    """Why a ``dma://`` URL is refused, or None when it is fine (any other URL is not this module's business)."""
    if not is_builtin(url) or url in BUILTIN_MCP_URLS:
        return None
    known = ", ".join(sorted(BUILTIN_MCP_URLS))
    return f"mcp_servers url {url[:200]!r} names no built-in MCP server (built in: {known})"
