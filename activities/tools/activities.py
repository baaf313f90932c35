"""Temporal activities of the built-in toolset: provision a sandbox, run one tool call, destroy a sandbox.

``provision_sandbox`` runs on the shared queue and pins the session to this host by returning this host's own queue
(``sandbox@<host_id>``); the workflow then sends ``run_tool`` and ``destroy_sandbox`` there. ``run_tool`` reads the
call's input from the event log and writes ``agent.tool_result`` under a deterministic id; a call that already has a
result (a retried attempt, or a later run repeating the call) returns it instead of running the tool a second time.
Results of one model response reach the stream in the model's order (``log.publish_results``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.call_log import pending_call, record_result
from activities.events import Step
from activities.heartbeat import heartbeating
from activities.sandboxes.base import Mount, SandboxError
from activities.sandboxes.manager import SandboxManager
from activities.session_mounts import SessionMounts
from activities.tools.definitions import builtin_tool_config
from activities.tools.environment import SelfHostedEnvironment, spec_from_environment
from activities.tools.outcome import ToolOutcome
from activities.tools.runner import ToolRunner
from activities.tools.sandbox_tools import SANDBOX_TOOLS
from activities.tools.web_fetch import WebFetcher
from activities.tools.web_search import SearchBackend
from dma.bus import Bus
from dma.settings import WorkerSettings
from dma.store.engine import Database
from dma.store.tables import Session, SessionEvent
from workflows.contracts import DestroyRequest, ProvisionRequest, SandboxHandle, ToolCallReply, ToolCallRequest
from workflows.declarations import DESTROY_SANDBOX, PROVISION_SANDBOX, RUN_TOOL

SANDBOX_QUEUE_PREFIX = "sandbox@"


class ToolActivities:
    """Tool activities; the worker builds one instance per process around its ``SandboxManager``."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        manager: SandboxManager,
        settings: WorkerSettings,
        web_fetcher: WebFetcher | None = None,
        search_backend: SearchBackend | None = None,
        *,
        host_id: str | None = None,
        task_queue: str | None = None,
        mounts: SessionMounts | None = None,
    ) -> None:
        """Wire the activities.

        Args:
            db: The event store.
            bus: Doorbells for SSE readers.
            manager: This host's sandboxes.
            settings: Worker settings (``host_name`` is the default host id).
            web_fetcher: Fetcher for ``web_fetch`` (a default one when None).
            search_backend: Backend for ``web_search`` (None: the tool answers with an error result).
            host_id: This host's id (defaults to ``settings.host_name``).
            task_queue: This host's own queue (defaults to ``sandbox@<host_id>``).
            mounts: Lays out files, skills, memory stores and repositories around each call (None: none of them).
        """
        self._db = db
        self._bus = bus
        self._manager = manager
        self._mounts = mounts
        self._runner = ToolRunner(manager, web_fetcher, search_backend)
        self.host_id = host_id or settings.host_name
        if not self.host_id:
            raise ValueError("ToolActivities needs a host id (WorkerSettings.host_name or host_id=)")
        self.task_queue = task_queue or f"{SANDBOX_QUEUE_PREFIX}{self.host_id}"

    def start_reaper(self, every: float = 30.0) -> asyncio.Task[None]:
        """Start the task that stops idle sandboxes; cancel it on shutdown."""
        return asyncio.create_task(self._manager.run_reaper(every), name="sandbox-reaper")

    @PROVISION_SANDBOX.implement
    async def provision_sandbox(self, req: ProvisionRequest) -> SandboxHandle:
        """Create (idempotently) the session's sandbox on this host and say which queue reaches it."""
        workspace = self._manager.workspace(req.spec.session_id)
        # Files already there (a host sharing the data dir, or a restarted worker) mean the workspace survived.
        restored = await asyncio.to_thread(lambda: workspace.is_dir() and any(workspace.iterdir()))
        try:
            async with heartbeating():
                mounts = await self._prepared_mounts(req.spec.session_id)
                await self._manager.ensure(req.spec, mounts)
        except SandboxError as err:
            raise ApplicationError(str(err), type="sandbox_unavailable", non_retryable=True) from err
        return SandboxHandle(
            session_id=req.spec.session_id,
            host=self.host_id,
            task_queue=self.task_queue,
            backend=self._manager.backend,
            generation=req.generation,
            workspace_restored=restored,
        )

    async def _prepared_mounts(self, session_id: str) -> list[Mount] | None:
        """The mounts a new sandbox starts with, so the first tool call need not rebuild it."""
        if self._mounts is None:
            return None
        async with self._db.read() as db:
            session = await db.get(Session, session_id)
        return (await self._mounts.prepare(session)).mounts if session is not None else None

    @DESTROY_SANDBOX.implement
    async def destroy_sandbox(self, req: DestroyRequest) -> None:
        """Remove the session's sandbox and workspace from this host (idempotent)."""
        async with heartbeating():
            await self._manager.destroy(req.session_id)

    @RUN_TOOL.implement
    async def run_tool(self, req: ToolCallRequest) -> ToolCallReply:
        """Run one built-in tool call and record its ``agent.tool_result``; exactly once per call."""
        step, use = Step.current(req.session_id, req.step), req.tool_use
        pending = await pending_call(self._db, self._bus, step.session_id, use.event_id, req.order)
        if isinstance(pending, bool):
            return ToolCallReply(is_error=pending)
        session, call = pending.session, pending.call
        outcome = await self._outcome(session, use.kind, use.name, call)
        await self._record(step, use.event_id, outcome, req.order)
        return ToolCallReply(is_error=outcome.is_error)

    async def _outcome(self, session: Session, kind: str, name: str, call: SessionEvent) -> ToolOutcome:
        if kind != "builtin":
            return ToolOutcome.error(f"{name} is not a built-in tool; this server cannot run it here")
        tools: list[dict[str, Any]] = (session.agent or {}).get("tools") or []
        config = builtin_tool_config(tools, name)
        if config is None:
            return ToolOutcome.error(f"Tool {name} is not enabled for this agent")
        try:
            spec = spec_from_environment(session.id, session.environment_config, session.agent)
        except SelfHostedEnvironment:
            return ToolOutcome.error(f"{name} runs on the client in a self_hosted environment, not on this server")
        raw: dict[str, Any] = call.body.get("input") or {}
        # Cancellation (an interrupt) reaches us through the heartbeat; the sandbox layer kills what the call started.
        async with heartbeating():
            if self._mounts is None or name not in SANDBOX_TOOLS:
                return await self._runner.run(name, raw, config, spec)
            prepared = await self._mounts.prepare(session)
            outcome = await self._runner.run(name, raw, config, spec, prepared.mounts)
            notes = await self._mounts.collect(session, prepared)
        if not notes:
            return outcome
        return ToolOutcome.of("\n\n".join([outcome.full_text, *notes]), is_error=True)

    async def _record(self, step: Step, use_id: str, outcome: ToolOutcome, order: list[str]) -> None:
        body: dict[str, Any] = {
            "tool_use_id": use_id,
            "content": [{"type": "text", "text": outcome.text_for_model}],
            "is_error": outcome.is_error,
        }
        extra = {"full_text": outcome.full_text} if outcome.truncated else None
        result = step.event(f"result:{use_id}", "agent.tool_result", body, extra)
        await record_result(self._db, self._bus, step.session_id, result, order or [use_id])
