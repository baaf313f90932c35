"""How ``SessionWorkflow`` runs tool calls: concurrently, in the sandbox of the host that owns it (DESIGN.md §5)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, TimeoutError
from temporalio.workflow import ActivityCancellationType

from workflows.contracts import (
    DestroyRequest,
    ProvisionRequest,
    SandboxHandle,
    SandboxNotice,
    SandboxSpec,
    ToolCallReply,
    ToolCallRequest,
    ToolUseRef,
)
from workflows.session_base import BOOKKEEPING_TIMEOUT, HEARTBEAT_TIMEOUT, Interrupted, SessionBase

TOOLS_TIMEOUT = timedelta(minutes=15)
# A sandbox host that does not pick up its queue within this long is taken for gone.
SANDBOX_SCHEDULE_TO_START = timedelta(seconds=10)
TOOL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
PROVISION_TIMEOUT = timedelta(minutes=5)
PROVISION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
MAX_SANDBOX_REPLACEMENTS = 2
# Tools that need no sandbox run on the shared queue, on any worker.
WORKER_TOOLS = frozenset({"web_fetch", "web_search"})


class SandboxedTools(SessionBase):
    """Tool execution for ``SessionWorkflow``; the sandbox handle lives in the carried state."""

    async def _run_tools(self, uses: list[ToolUseRef], cut_off: list[ToolUseRef]) -> None:
        """Run the calls concurrently: sandbox tools on the host that owns the sandbox, web tools anywhere.

        A host that stopped serving its queue (schedule-to-start timeout) is replaced by a new sandbox elsewhere,
        which the log records, and the lost calls run again there.
        """
        step = self._next_step()
        pending = list(uses)
        for _ in range(MAX_SANDBOX_REPLACEMENTS + 1):
            if any(use.name not in WORKER_TOOLS for use in pending) and not await self._ensure_sandbox(pending):
                return
            lost = await self._run_batch(pending, step, cut_off)
            if not lost:
                return
            await self._replace_sandbox()
            pending = lost
        await self._record_results(pending, "sandbox_unavailable", "the sandbox host kept disappearing")

    async def _run_batch(self, uses: list[ToolUseRef], step: int, cut_off: list[ToolUseRef]) -> list[ToolUseRef]:
        """Run one round of calls; returns the calls whose host was lost."""
        handles = [(use, self._start_tool(use, step)) for use in uses]
        await workflow.wait_condition(lambda: all(h.done() for _, h in handles) or bool(self._carry.interrupts))
        for _, handle in handles:
            if not handle.done():
                handle.cancel()
        lost: list[ToolUseRef] = []
        cancelled: list[str] = []
        for use, handle in handles:
            try:
                await handle
            except ActivityError as err:
                if isinstance(err.cause, CancelledError):
                    cancelled.append(use.event_id)
                elif isinstance(err.cause, TimeoutError) and use.name not in WORKER_TOOLS:
                    lost.append(use)
                else:
                    await self._record_results([use], "sandbox_unavailable", str(err.cause or err))
        if self._carry.interrupts:
            raise Interrupted(cancelled + [use.event_id for use in lost + cut_off])
        return lost

    def _start_tool(self, use: ToolUseRef, step: int) -> workflow.ActivityHandle[ToolCallReply]:
        sandbox = self._carry.sandbox if use.name not in WORKER_TOOLS else None
        return workflow.start_activity(
            "run_tool",
            ToolCallRequest(session_id=self._start.session_id, step=step, tool_use=use, handle=sandbox),
            result_type=ToolCallReply,
            task_queue=sandbox.task_queue if sandbox is not None else None,
            schedule_to_start_timeout=SANDBOX_SCHEDULE_TO_START if sandbox is not None else None,
            start_to_close_timeout=TOOLS_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=TOOL_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _ensure_sandbox(self, uses: list[ToolUseRef]) -> bool:
        """Provision the session's sandbox on some worker host, once; False (calls answered) if that fails."""
        if self._carry.sandbox is not None:
            return True
        try:
            self._carry.sandbox = await self._provision(generation=1)
        except ActivityError as err:
            await self._record_results(uses, "sandbox_unavailable", str(err.cause or err))
            return False
        return True

    async def _provision(self, generation: int) -> SandboxHandle:
        return await workflow.execute_activity(
            "provision_sandbox",
            ProvisionRequest(spec=self._sandbox_spec(), generation=generation),
            result_type=SandboxHandle,
            start_to_close_timeout=PROVISION_TIMEOUT,
            heartbeat_timeout=PROVISION_TIMEOUT,
            retry_policy=PROVISION_RETRY,
        )

    async def _replace_sandbox(self) -> None:
        lost = self._carry.sandbox
        self._carry.sandbox = None
        handle = await self._provision(generation=(lost.generation + 1) if lost else 1)
        self._carry.sandbox = handle
        notice = SandboxNotice(
            session_id=self._start.session_id,
            step=self._next_step(),
            lost_host=lost.host if lost else "",
            new_host=handle.host,
            workspace_restored=handle.workspace_restored,
        )
        await self._bookkeeping("note_sandbox_reset", notice)

    def _sandbox_spec(self) -> SandboxSpec:
        return self._start.sandbox or SandboxSpec(session_id=self._start.session_id)

    async def _destroy_sandbox(self) -> None:
        """Best effort: a deleted session's workspace goes with it (a lost host took it already)."""
        sandbox = self._carry.sandbox
        if sandbox is None:
            return
        try:
            await workflow.execute_activity(
                "destroy_sandbox",
                DestroyRequest(session_id=self._start.session_id),
                task_queue=sandbox.task_queue,
                schedule_to_start_timeout=SANDBOX_SCHEDULE_TO_START,
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            workflow.logger.warning("could not destroy the sandbox of session %s", self._start.session_id)
