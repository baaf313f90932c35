"""Runs one built-in tool call: web tools on the worker, everything else in the session's sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activities.sandboxes.base import Mount, SandboxError
from activities.sandboxes.manager import SandboxManager
from activities.tools.outcome import ToolOutcome
from activities.tools.sandbox_tools import SANDBOX_FILE_TOOLS, run_bash, run_file_tool
from activities.tools.web_fetch import WebFetcher
from activities.tools.web_search import SearchBackend, run_web_search
from workflows.contracts import SandboxSpec


class ToolRunner:
    """Dispatches built-in tool calls; no Temporal or DB here, so it is usable (and testable) on its own."""

    def __init__(
        self, manager: SandboxManager, web_fetcher: WebFetcher | None = None, search: SearchBackend | None = None
    ) -> None:
        """Wire the runner.

        Args:
            manager: This host's sandboxes.
            web_fetcher: Fetcher for ``web_fetch`` (a default ``WebFetcher`` when None).
            search: Backend for ``web_search``; without one the tool answers with an error result.
        """
        self.manager = manager
        self._fetcher = web_fetcher or WebFetcher()
        self._search = search

    async def run(
        self,
        name: str,
        raw: dict[str, Any],
        config: dict[str, Any],
        spec: SandboxSpec,
        mounts: Sequence[Mount] = (),
    ) -> ToolOutcome:
        """Run tool ``name`` with input ``raw`` and its effective ``config``; failures become error outcomes.

        ``mounts`` are what the session's sandbox must show (``activities.session_mounts``).
        """
        if name == "web_fetch":
            return await self._fetcher.run(raw, config)
        if name == "web_search":
            return await run_web_search(self._search, raw, config)
        if name != "bash" and name not in SANDBOX_FILE_TOOLS:
            return ToolOutcome.error(f"Unknown tool: {name}")
        limits = self.manager.limits
        try:
            async with self.manager.use(spec, mounts) as sandbox:
                if name == "bash":
                    return await run_bash(sandbox, limits, raw)
                return await run_file_tool(sandbox, limits, name, raw)
        except SandboxError as err:
            return ToolOutcome.error(f"The sandbox is not available: {err}")
