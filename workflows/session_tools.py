"""How a session workflow runs tool calls: in the model's order, in the sandbox of the host that owns it (DESIGN.md §5).

Calls of one model response keep their meaning: a call that writes the workspace or runs a command starts only after
every call before it has finished, and read-only calls next to each other run at the same time. Their results reach
the stream in the model's order whatever order they finish in (the activities see to that).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, TimeoutError

from workflows.contracts import (
    DestroyRequest,
    ProvisionRequest,
    SandboxHandle,
    SandboxSpec,
    ToolCallReply,
    ToolCallRequest,
    ToolUseRef,
)
from workflows.declarations import (
    DESTROY_SANDBOX,
    MCP_TOOL_RETRY,
    PROVISION_SANDBOX,
    RUN_MCP_TOOL,
    RUN_TOOL,
    SANDBOX_SCHEDULE_TO_START,
)
from workflows.session_ledger import Ledger
from workflows.session_state import Interrupted, SessionState, TurnFailed

MAX_SANDBOX_REPLACEMENTS = 2
# Tools that need no sandbox run on the shared queue, on any worker.
WORKER_TOOLS = frozenset({"web_fetch", "web_search"})
# Tools that neither change the workspace nor run anything: they may run beside each other.
READ_ONLY_TOOLS = frozenset({"read", "glob", "grep", "web_fetch", "web_search"})


def read_only(use: ToolUseRef) -> bool:
    """Whether a call neither changes anything nor runs anything: built-in read tools only (MCP tools may do both)."""
    return use.kind == "builtin" and use.name in READ_ONLY_TOOLS


def needs_sandbox(use: ToolUseRef) -> bool:
    """Whether a call runs in the session's sandbox (MCP calls and web tools run on any worker)."""
    return use.kind == "builtin" and use.name not in WORKER_TOOLS


def segments(uses: list[ToolUseRef]) -> list[list[ToolUseRef]]:
    """The calls in rounds: consecutive read-only calls share a round; any other call has a round of its own."""
    rounds: list[list[ToolUseRef]] = []
    for use in uses:
        if read_only(use) and rounds and all(read_only(other) for other in rounds[-1]):
            rounds[-1].append(use)
        else:
            rounds.append([use])
    return rounds


class ToolRunner:
    """Runs a turn's tool calls and keeps the session's sandbox (its handle lives in the carried state)."""

    def __init__(self, state: SessionState, ledger: Ledger) -> None:
        self._state = state
        self._ledger = ledger

    async def run(self, uses: list[ToolUseRef], order: list[str], close_if_cut: list[str]) -> None:
        """Run the calls round by round; raises ``Interrupted`` (naming every call left without a result).

        ``order`` is every call of the model response, in the model's order; ``close_if_cut`` are further calls of
        the turn that an interrupt leaves without a result.
        """
        step = self._state.next_step()
        rounds = segments(uses)
        for index, current in enumerate(rounds):
            later = [use.event_id for batch in rounds[index + 1 :] for use in batch] + close_if_cut
            await self._run_round(current, step, order, later)

    async def _run_round(self, uses: list[ToolUseRef], step: int, order: list[str], later: list[str]) -> None:
        """One round; a host that stopped serving its queue is replaced (the log says so) and its calls run again."""
        pending = list(uses)
        for _ in range(MAX_SANDBOX_REPLACEMENTS + 1):
            if any(needs_sandbox(use) for use in pending) and not await self._ensure_sandbox(pending, order):
                return
            lost = await self._run_batch(pending, step, order, later)
            if not lost:
                return
            if not await self._replace_sandbox(lost, order):
                return
            pending = lost
        await self._ledger.record_results(pending, "sandbox_unavailable", "the sandbox host kept disappearing", order)

    async def _run_batch(
        self, uses: list[ToolUseRef], step: int, order: list[str], later: list[str]
    ) -> list[ToolUseRef]:
        """Run calls side by side; returns the calls whose host was lost (raises when the turn cannot go on)."""
        handles = [(use, self._start_tool(use, step, order)) for use in uses]
        self._state.show(f"tools: {', '.join(use.name for use in uses)}")
        await workflow.wait_condition(lambda: all(h.done() for _, h in handles) or self._state.interrupted)
        for _, handle in handles:
            if not handle.done():
                handle.cancel()
        lost: list[ToolUseRef] = []
        cancelled: list[str] = []
        failed: tuple[ToolUseRef, ActivityError] | None = None
        for use, handle in handles:
            try:
                await handle
            except ActivityError as err:
                if isinstance(err.cause, CancelledError):
                    cancelled.append(use.event_id)
                elif use.kind == "mcp":
                    failed = failed or (use, err)
                elif isinstance(err.cause, TimeoutError) and needs_sandbox(use):
                    lost.append(use)
                else:
                    await self._ledger.record_results([use], "sandbox_unavailable", str(err.cause or err), order)
        if self._state.interrupted:
            raise Interrupted(cancelled + [use.event_id for use in lost] + later)
        if failed is not None:
            raise TurnFailed([failed[0].event_id, *cancelled, *later], failed[1])
        return lost

    def _start_tool(self, use: ToolUseRef, step: int, order: list[str]) -> workflow.ActivityHandle[ToolCallReply]:
        if use.kind == "mcp":
            return self._start_mcp(use, step, order)
        sandbox = self._state.carry.sandbox if needs_sandbox(use) else None
        where = f" · {sandbox.host}" if sandbox is not None else ""
        request = ToolCallRequest(
            session_id=self._state.session_id, step=step, tool_use=use, handle=sandbox, order=order
        )
        return RUN_TOOL.start(
            request,
            summary=f"{use.name}: {use.preview}{where}",
            task_queue=sandbox.task_queue if sandbox is not None else None,
            schedule_to_start=SANDBOX_SCHEDULE_TO_START if sandbox is not None else None,
        )

    def _start_mcp(self, use: ToolUseRef, step: int, order: list[str]) -> workflow.ActivityHandle[ToolCallReply]:
        """An MCP call runs on the shared queue; Temporal retries it while its server cannot be reached."""
        request = ToolCallRequest(session_id=self._state.session_id, step=step, tool_use=use, order=order)
        attempts = max(1, self._state.start.mcp_max_attempts)
        return RUN_MCP_TOOL.start(
            request,
            summary=f"mcp {use.mcp_server_name}/{use.name}: {use.preview}",
            retry=RetryPolicy(
                initial_interval=MCP_TOOL_RETRY.initial_interval,
                maximum_interval=MCP_TOOL_RETRY.maximum_interval,
                maximum_attempts=attempts,
            ),
        )

    async def _ensure_sandbox(self, uses: list[ToolUseRef], order: list[str]) -> bool:
        """Provision the session's sandbox on some worker host, once; False (calls answered) if that fails."""
        if self._state.carry.sandbox is not None:
            return True
        try:
            self._state.carry.sandbox = await self._provision(generation=1)
        except ActivityError as err:
            await self._ledger.record_results(uses, "sandbox_unavailable", str(err.cause or err), order)
            return False
        return True

    async def _provision(self, generation: int) -> SandboxHandle:
        self._state.show("a sandbox")
        request = ProvisionRequest(spec=self._sandbox_spec(), generation=generation)
        return await PROVISION_SANDBOX.run(request, summary=f"provision the sandbox (generation {generation})")

    async def _replace_sandbox(self, lost_calls: list[ToolUseRef], order: list[str]) -> bool:
        """A new sandbox on a live host; False (the lost calls answered with an error) when none can be had."""
        lost = self._state.carry.sandbox
        self._state.carry.sandbox = None
        try:
            handle = await self._provision(generation=(lost.generation + 1) if lost else 1)
        except ActivityError as err:
            message = f"the sandbox host was lost and no new sandbox could be provisioned ({err.cause or err})"
            await self._ledger.record_results(lost_calls, "sandbox_unavailable", message, order)
            return False
        self._state.carry.sandbox = handle
        await self._ledger.note_sandbox_reset(lost, handle)
        return True

    def _sandbox_spec(self) -> SandboxSpec:
        return self._state.start.sandbox or SandboxSpec(session_id=self._state.session_id)

    async def destroy_sandbox(self) -> None:
        """Best effort: a deleted session's workspace goes with it (a lost host took it already)."""
        sandbox = self._state.carry.sandbox
        if sandbox is None:
            return
        try:
            await DESTROY_SANDBOX.run(
                DestroyRequest(session_id=self._state.session_id),
                summary=f"destroy the sandbox on {sandbox.host}",
                task_queue=sandbox.task_queue,
                schedule_to_start=SANDBOX_SCHEDULE_TO_START,
            )
        except ActivityError:
            workflow.logger.warning("could not destroy the sandbox of session %s", self._state.session_id)
