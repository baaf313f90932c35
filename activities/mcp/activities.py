"""Temporal activities of MCP: call one tool of a session's MCP server, and probe a credential.

``run_mcp_tool`` gets only ids across Temporal (the call's event id and its server's name); it reads the call's input
from the log, the server's URL from the session's agent, and the credential from the session's vaults, opens the
secret here on the worker and sends it as ``Authorization: Bearer``. The result (``agent.mcp_tool_result``) is
written under a deterministic id, in the model's order.

Failures, as Temporal sees them: a server that cannot be reached raises a retryable ``mcp_connection_failed_error``
(and says so with ``session.error{retrying}``) until the last attempt, which records an error result and raises it
non-retryable; a refused credential, after one refresh for OAuth, records an error result and raises a non-retryable
``mcp_authentication_failed_error``. The workflow then ends the turn with ``retries_exhausted``. A tool's own error
result is a normal result. An interrupt cancels the call through the heartbeat, which closes the connection.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.call_log import pending_call, record_result
from activities.events import EventWriter, Step, error_event
from activities.heartbeat import heartbeating
from activities.mcp.builtin import BuiltinServers
from activities.mcp.connection import McpCallError, McpUnauthorized, McpUnreachable, call_tool
from activities.mcp.content import McpOutcome, error_outcome, outcome_of
from activities.mcp.credentials import Bearer, CredentialResolver, CredentialUnusable
from activities.mcp.probe import probe
from dma.bus import Bus
from dma.crypto import Keyring
from dma.store import events as log
from dma.store.engine import Database
from dma.store.tables import Session
from workflows.contracts import CredentialProbe, ProbeReply, ToolCallReply, ToolCallRequest, ToolUseRef
from workflows.declarations import PROBE_CREDENTIAL, RUN_MCP_TOOL

CONNECTION_FAILED = "mcp_connection_failed_error"
AUTHENTICATION_FAILED = "mcp_authentication_failed_error"


class _Failed(Exception):
    """The call has no result from the server; ``kind`` is the ``session.error`` type to report."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def server_url(session: Session, server_name: str) -> str | None:
    """The URL the session's agent gives the named MCP server."""
    servers: list[dict[str, Any]] = (session.agent or {}).get("mcp_servers") or []
    return next((str(s["url"]) for s in servers if s.get("name") == server_name), None)


class McpActivities:
    """MCP activities; the worker builds one instance with its DB, bus, keyring and built-in servers."""

    def __init__(self, db: Database, bus: Bus, keyring: Keyring, builtin: BuiltinServers) -> None:
        self._db = db
        self._builtin = builtin
        self._bus = bus
        self._writer = EventWriter(db, bus)
        self._resolver = CredentialResolver(db, keyring)
        self._keyring = keyring

    @property
    def resolver(self) -> CredentialResolver:
        return self._resolver

    @property
    def builtin(self) -> BuiltinServers:
        return self._builtin

    @RUN_MCP_TOOL.implement
    async def run_mcp_tool(self, req: ToolCallRequest) -> ToolCallReply:
        """Run one MCP tool call and record its ``agent.mcp_tool_result``; exactly once per call."""
        step, use = Step.current(req.session_id, req.step), req.tool_use
        pending = await pending_call(self._db, self._bus, step.session_id, use.event_id, req.order)
        if isinstance(pending, bool):
            return ToolCallReply(is_error=pending)
        session, call = pending.session, pending.call
        url = server_url(session, use.mcp_server_name or "")
        if url is None:
            outcome = error_outcome(f"MCP server {use.mcp_server_name!r} is not configured for this session's agent")
        else:
            arguments: dict[str, Any] = call.body.get("input") or {}
            # Heartbeats through the whole call: an interrupt's cancellation arrives on them.
            async with heartbeating():
                outcome = await self._call(step, use, list(session.vault_ids or []), url, arguments, req.order)
        await self._record(step, use.event_id, outcome, req.order)
        return ToolCallReply(is_error=outcome.is_error)

    async def _call(
        self, step: Step, use: ToolUseRef, vault_ids: list[str], url: str, arguments: dict[str, Any], order: list[str]
    ) -> McpOutcome:
        server = use.mcp_server_name or ""
        try:
            if self._builtin.serves(url):
                # In-process, no credential: the server acts for this session only.
                result = await self._builtin.call_tool(url, step.session_id, use.event_id, use.name, arguments)
                return outcome_of(result)
            return outcome_of(await self._authorized_call(vault_ids, url, use.name, arguments))
        except McpCallError as err:
            return error_outcome(f"MCP tool {use.name!r} of server {server!r} could not run: {err}")
        except _Failed as failed:
            info = activity.info()
            limit = info.retry_policy.maximum_attempts if info.retry_policy is not None else 1
            final = failed.kind == AUTHENTICATION_FAILED or 0 < limit <= info.attempt
            message = f"MCP server {server!r}: {failed.message}"
            if final:
                await self._record(step, use.event_id, error_outcome(message), order)
            else:
                await self._note_retry(step, use, failed.kind, message, info.attempt)
            raise ApplicationError(message, server, type=failed.kind, non_retryable=final) from None

    async def _authorized_call(self, vault_ids: list[str], url: str, tool: str, arguments: dict[str, Any]) -> Any:
        try:
            bearer = await self._resolver.bearer(vault_ids, url)
            try:
                return await call_tool(url, bearer.token, tool, arguments)
            except McpUnauthorized as refused:
                fresh = await self._resolver.after_unauthorized(bearer)
                if fresh is None:
                    raise _Failed(AUTHENTICATION_FAILED, _refusal(refused, bearer)) from None
                return await call_tool(url, fresh.token, tool, arguments)
        except McpUnauthorized as refused:
            raise _Failed(AUTHENTICATION_FAILED, f"{refused}, also with a freshly refreshed token") from None
        except CredentialUnusable as err:
            raise _Failed(AUTHENTICATION_FAILED, str(err)) from None
        except McpUnreachable as err:
            raise _Failed(CONNECTION_FAILED, str(err)) from None

    async def _note_retry(self, step: Step, use: ToolUseRef, kind: str, message: str, attempt: int) -> None:
        """``session.error{retrying}``: this attempt failed and Temporal will try the call again."""
        server = use.mcp_server_name or ""
        event = error_event(step, f"mcp_error:{use.event_id}@{attempt}", kind, message[:2000], "retrying",
                            mcp_server_name=server)  # fmt: skip
        async with self._writer.locked(step.session_id) as locked:
            if locked is not None:
                await log.append(locked.db, locked.session, [event])

    async def _record(self, step: Step, use_id: str, outcome: McpOutcome, order: list[str]) -> None:
        body: dict[str, Any] = {"mcp_tool_use_id": use_id, "content": outcome.content, "is_error": outcome.is_error}
        extra = {"full_text": outcome.full_text} if outcome.full_text is not None else None
        result = step.event(f"result:{use_id}", "agent.mcp_tool_result", body, extra)
        await record_result(self._db, self._bus, step.session_id, result, order or [use_id])

    @PROBE_CREDENTIAL.implement
    async def probe_credential(self, req: CredentialProbe) -> ProbeReply:
        """Probe an ``mcp_oauth`` credential against its server (``mcp_oauth_validate``)."""
        async with heartbeating():
            return await probe(self._db, self._keyring, self._resolver, req)


def _refusal(refused: McpUnauthorized, bearer: Bearer) -> str:
    if bearer.token is None:
        return f"{refused}; no credential in the session's vaults matches this server's URL"
    return f"{refused}; credential {bearer.credential_id} cannot be refreshed"
