"""The MCP tools a model step offers: each server's list, fetched once per session, named so nothing can clash.

A server's list is fetched the first time a model step of the session needs it and kept in ``session_mcp_tools``
(``dma.store.mcp_tools`` says why in the DB), so every later step, on any worker, offers the same tools under the
same names; updating the session's agent drops the lists. A server that cannot be listed costs its tools for this
step only: the step writes ``session.error`` (``retrying``: the next step tries again) and the model goes on with
the rest.

The model sees ``mcp__<server>__<tool>`` (characters outside ``[A-Za-z0-9_-]`` replaced, long names shortened with
a hash, and a numeric suffix against any clash with built-in, custom or other MCP tools); ``McpTools.target`` maps
a call back to the server and the tool's own name.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from mcp_types import Tool

from activities.events import EventWriter, Step, error_event
from activities.mcp.builtin import BuiltinServers
from activities.mcp.connection import McpFailure, McpUnauthorized, list_tools
from activities.mcp.credentials import CredentialResolver, CredentialUnusable
from activities.permissions import mcp_tool_enabled
from dma.store import events as log
from dma.store import mcp_tools as cache
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session

MAX_NAME = 64
MAX_DESCRIPTION = 4096
LIST_TIMEOUT_SECONDS = 30.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpTool:
    """One MCP tool as the model sees it, and where a call of it goes."""

    model_name: str
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class McpTools:
    """The MCP tools of one model step."""

    tools: list[McpTool] = field(default_factory=list[McpTool])

    def definitions(self) -> list[dict[str, Any]]:
        """Tool definitions for the model request."""
        return [
            {"name": tool.model_name, "description": tool.description, "input_schema": tool.input_schema}
            for tool in self.tools
        ]

    def target(self, model_name: str) -> McpTool | None:
        """The MCP tool a call names, if it names one."""
        return next((tool for tool in self.tools if tool.model_name == model_name), None)


def _model_name(server: str, tool: str, taken: set[str]) -> str:
    base = f"mcp__{_UNSAFE.sub('_', server)}__{_UNSAFE.sub('_', tool)}"
    if len(base) > MAX_NAME:
        digest = hashlib.sha256(f"{server}\x00{tool}".encode()).hexdigest()[:8]
        base = f"{base[: MAX_NAME - 9]}_{digest}"
    name, suffix = base, 2
    while name in taken:
        name = f"{base[: MAX_NAME - 4]}_{suffix}"
        suffix += 1
    taken.add(name)
    return name


def _listed(tool: Tool) -> dict[str, Any] | None:
    schema = tool.input_schema
    if schema.get("type") != "object":
        return None  # the Messages API takes object schemas only; such a tool cannot be offered
    return {"name": tool.name, "description": (tool.description or "")[:MAX_DESCRIPTION], "input_schema": schema}


class McpCatalog:
    """Builds each model step's MCP tools (one per worker)."""

    def __init__(
        self, db: Database, writer: EventWriter, resolver: CredentialResolver, builtin: BuiltinServers
    ) -> None:
        self._db = db
        self._writer = writer
        self._resolver = resolver
        self._builtin = builtin

    async def for_step(self, step: Step, attempt: int, agent: dict[str, Any], taken: set[str]) -> McpTools:
        """The MCP tools to offer; ``taken`` holds the names of the other tools of the request."""
        servers: list[dict[str, Any]] = agent.get("mcp_servers") or []
        if not servers:
            return McpTools()
        async with self._db.read() as db:
            session = await db.get(Session, step.session_id)
            known = await cache.cached(db, step.session_id)
        vault_ids: list[str] = list(session.vault_ids or []) if session is not None else []
        missing = [s for s in servers if (row := known.get(s["name"])) is None or row.server_url != s["url"]]
        fetched = await asyncio.gather(*(self._fetch(step.session_id, vault_ids, server) for server in missing))
        lists = {name: row.tools for name, row in known.items()}
        failures: list[tuple[str, McpFailure | CredentialUnusable]] = []
        for server, outcome in zip(missing, fetched, strict=True):
            if isinstance(outcome, list):
                lists[server["name"]] = outcome
            else:
                failures.append((server["name"], outcome))
        await self._keep(step, attempt, missing, lists, failures)
        names = set(taken)
        tools = [
            McpTool(_model_name(server["name"], entry["name"], names), server["name"], **entry)
            for server in servers
            for entry in lists.get(server["name"], [])
            if mcp_tool_enabled(agent, server["name"], entry["name"])
        ]
        return McpTools(tools)

    async def _fetch(
        self, session_id: str, vault_ids: list[str], server: dict[str, Any]
    ) -> list[dict[str, Any]] | McpFailure | CredentialUnusable:
        url = str(server["url"])
        try:
            if self._builtin.serves(url):
                listed = await self._builtin.list_tools(url, session_id)
                return [entry for tool in listed if (entry := _listed(tool)) is not None]
            bearer = await self._resolver.bearer(vault_ids, url)
            try:
                listed = await asyncio.wait_for(list_tools(url, bearer.token), LIST_TIMEOUT_SECONDS)
            except McpUnauthorized:
                fresh = await self._resolver.after_unauthorized(bearer)
                if fresh is None:
                    raise
                listed = await asyncio.wait_for(list_tools(url, fresh.token), LIST_TIMEOUT_SECONDS)
        except (McpFailure, CredentialUnusable) as failure:
            return failure
        except TimeoutError:
            return McpFailure(f"the MCP server at {url} did not list its tools within {LIST_TIMEOUT_SECONDS:.0f}s")
        return [entry for tool in listed if (entry := _listed(tool)) is not None]

    async def _keep(
        self,
        step: Step,
        attempt: int,
        missing: list[dict[str, Any]],
        lists: dict[str, list[dict[str, Any]]],
        failures: list[tuple[str, McpFailure | CredentialUnusable]],
    ) -> None:
        """Store the lists just fetched, and say which servers could not be listed."""
        if not missing:
            return
        errors = [_list_error(step, attempt, name, failure) for name, failure in failures]
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                return
            for server in missing:
                if server["name"] in lists:
                    await cache.store(locked.db, step.session_id, server["name"], server["url"], lists[server["name"]])
            await log.append(locked.db, locked.session, errors)


def _list_error(step: Step, attempt: int, server: str, failure: Exception) -> NewEvent:
    auth = isinstance(failure, McpUnauthorized | CredentialUnusable)
    kind = "mcp_authentication_failed_error" if auth else "mcp_connection_failed_error"
    message = f"{failure}. Its tools are left out of this model request; the next one lists them again."
    return error_event(step, f"mcp_list:{server}@{attempt}", kind, message[:2000], "retrying", mcp_server_name=server)
