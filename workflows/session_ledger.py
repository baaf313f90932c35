"""The bookkeeping a session workflow asks for: short activities that only write the event log."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from workflows.contracts import (
    AcknowledgeRequest,
    Answer,
    BeginRunReply,
    BeginRunRequest,
    FinishTurnRequest,
    RecordResultsRequest,
    ResultReason,
    ResumeRequest,
    SandboxHandle,
    SandboxNotice,
    StopReason,
    ToolUseRef,
)
from workflows.declarations import (
    ACKNOWLEDGE_EVENTS,
    BEGIN_RUN,
    FINISH_TURN,
    NOTE_SANDBOX_RESET,
    RECORD_TOOL_RESULTS,
    RESUME_TURN,
)
from workflows.session_state import SessionState


class Ledger:
    """Writes what the workflow decided into the log (each call one transaction, idempotent by event id)."""

    def __init__(self, state: SessionState) -> None:
        self._state = state

    async def begin_run(self) -> BeginRunReply:
        """Reconcile the log an abruptly ended earlier run left behind."""
        request = BeginRunRequest(session_id=self._state.session_id, step=self._state.next_step())
        return await BEGIN_RUN.run(request, summary="reconcile the log an earlier run left")

    async def finish(
        self,
        stop_reason: StopReason,
        *,
        error: FailureError | None = None,
        processed: list[str] | None = None,
        close: list[str] | None = None,
        blocking: list[str] | None = None,
        close_message: str | None = None,
    ) -> None:
        """Go idle: ``session.usage`` + ``session.status_idle`` (after an error and closing cut-off calls)."""
        # A task-queue activity's failure wraps the activity's error; a local activity's failure is that error.
        cause = error.cause if isinstance(error, ActivityError) else error
        error_type = cause.type if isinstance(cause, ApplicationError) else None
        # MCP failures name their server as the error's first detail (activities.mcp.activities).
        details = cause.details if isinstance(cause, ApplicationError) else ()
        server = str(details[0]) if error_type and error_type.startswith("mcp_") and details else None
        message = cause.message if server is not None and isinstance(cause, ApplicationError) else str(cause or error)
        request = FinishTurnRequest(
            session_id=self._state.session_id,
            step=self._state.next_step(),
            stop_reason=stop_reason,
            error_type=error_type or ("model_request_failed_error" if error is not None else None),
            error_message=message if error is not None else None,
            processed_ids=processed or [],
            close_tool_use_ids=close or [],
            blocking_ids=blocking or [],
            mcp_server_name=server,
            close_message=close_message,
        )
        await FINISH_TURN.run(request, summary=f"turn {self._state.carry.turns} goes idle: {stop_reason}")

    async def resume(self, answers: list[Answer], order: list[str]) -> None:
        """Every blocking call is answered: mark the answers processed, record denials, go running."""
        request = ResumeRequest(
            session_id=self._state.session_id,
            step=self._state.next_step(),
            answer_ids=[answer.event_id for answer in answers],
            order=order,
        )
        allowed = sum(answer.allow for answer in answers)
        summary = f"resume turn {self._state.carry.turns}: {allowed} allowed, {len(answers) - allowed} denied"
        await RESUME_TURN.run(request, summary=summary)

    async def acknowledge(self, event_ids: list[str]) -> None:
        """Mark events processed with no other effect."""
        request = AcknowledgeRequest(session_id=self._state.session_id, event_ids=event_ids)
        await ACKNOWLEDGE_EVENTS.run(request, summary=f"acknowledge {len(event_ids)} interrupt(s) of an idle session")

    async def record_results(
        self, uses: list[ToolUseRef], reason: ResultReason, message: str | None = None, order: list[str] | None = None
    ) -> None:
        """Error results for calls that will not run (denied, or nothing can run them)."""
        request = RecordResultsRequest(
            session_id=self._state.session_id,
            step=self._state.next_step(),
            tool_uses=uses,
            reason=reason,
            message=message,
            order=order or [use.event_id for use in uses],
        )
        names = ", ".join(sorted({use.name for use in uses}))
        await RECORD_TOOL_RESULTS.run(request, summary=f"{reason} result(s): {names}")

    async def note_sandbox_reset(self, lost: SandboxHandle | None, new: SandboxHandle) -> None:
        """Say in the log that the sandbox moved to another host."""
        notice = SandboxNotice(
            session_id=self._state.session_id,
            step=self._state.next_step(),
            lost_host=lost.host if lost else "",
            new_host=new.host,
            workspace_restored=new.workspace_restored,
        )
        await NOTE_SANDBOX_RESET.run(notice, summary=f"sandbox moved from {notice.lost_host} to {new.host}")
