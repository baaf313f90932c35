"""Turn bookkeeping activities: going idle, resuming after answers, and writing tool results nobody executes.

Tool results of one model response reach the stream in the model's order (``log.publish_results``): each writer
adds its results hidden and then shows as many as the order allows.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.events import (
    EventWriter,
    Step,
    error_event,
    start_running,
    stop_running,
    turn_end_events,
)
from activities.model.context import TOOL_USE_TYPES
from activities.permissions import denial_text
from activities.reconcile import reconcile_log
from dma.bus import Bus
from dma.clock import utcnow
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import RESULT_TYPES, NewEvent
from dma.store.tables import SessionEvent
from workflows.contracts import (
    AcknowledgeRequest,
    BeginRunReply,
    BeginRunRequest,
    FinishTurnRequest,
    RecordResultsRequest,
    ResumeRequest,
    SandboxNotice,
)
from workflows.declarations import (
    ACKNOWLEDGE_EVENTS,
    BEGIN_RUN,
    FINISH_TURN,
    NOTE_SANDBOX_RESET,
    RECORD_TOOL_RESULTS,
    RESUME_TURN,
)

NO_EXECUTOR_MESSAGE = "Tool '{name}' is not available: this server has no executor for it."
INTERRUPTED_MESSAGE = "The call was cancelled: the user interrupted the turn."


def result_event(step: Step, tool_use_id: str, text: str, is_error: bool, kind: str = "builtin") -> NewEvent:
    """An ``agent.tool_result`` (``agent.mcp_tool_result`` for an MCP call) with a deterministic id."""
    key, event_type = (
        ("mcp_tool_use_id", "agent.mcp_tool_result") if kind == "mcp" else ("tool_use_id", "agent.tool_result")
    )
    body: dict[str, Any] = {key: tool_use_id, "content": [{"type": "text", "text": text}], "is_error": is_error}
    return step.event(f"result:{tool_use_id}", event_type, body)


def kind_of(row: SessionEvent | None) -> str:
    """The tool kind of a tool-use row (``builtin`` when unknown)."""
    return TOOL_USE_TYPES.get(row.type, "builtin") if row is not None else "builtin"


async def answered_tool_uses(db: AsyncSession, session_id: str, tool_use_ids: list[str]) -> set[str]:
    """Which of these tool uses already have a result in the log (shown or still hidden)."""
    return await log.referenced(db, session_id, tool_use_ids, RESULT_TYPES)


def _stop_reason(request: FinishTurnRequest) -> dict[str, Any]:
    stop: dict[str, Any] = {"type": request.stop_reason}
    if request.stop_reason == "requires_action":
        stop["event_ids"] = request.blocking_ids
    return stop


def _result_text(request: RecordResultsRequest, tool_name: str) -> str:
    if request.reason == "denied":
        return denial_text(tool_name, request.message)
    if request.reason == "sandbox_unavailable":
        return f"Tool '{tool_name}' could not run: no sandbox is available ({request.message or 'unknown reason'})."
    return NO_EXECUTOR_MESSAGE.format(name=tool_name)


async def _denials(db: AsyncSession, step: Step, answer_ids: list[str]) -> list[NewEvent]:
    """Error results for the calls a person denied, carrying their ``deny_message``."""
    statement = select(SessionEvent).where(
        col(SessionEvent.id).in_(answer_ids), SessionEvent.type == "user.tool_confirmation"
    )
    denied = [row for row in (await db.exec(statement)).all() if row.body.get("result") == "deny"]
    uses = await log.by_ids(db, step.session_id, [row.body["tool_use_id"] for row in denied])
    return [
        result_event(
            step,
            row.body["tool_use_id"],
            denial_text(str(use.body.get("name", "this tool")), row.body.get("deny_message")),
            True,
            kind_of(use),
        )
        for row in denied
        if (use := uses.get(row.body["tool_use_id"])) is not None
    ]


class TurnActivities:
    """Activities that only write the event log; each is one transaction and idempotent (deterministic ids)."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._writer = EventWriter(db, bus)

    @BEGIN_RUN.implement
    async def begin_run(self, request: BeginRunRequest) -> BeginRunReply:
        """Pick up what an earlier run of the session left: close its cut-off turn, find queued and blocked work."""
        step = Step.current(request.session_id, request.step)
        async with self._writer.locked(request.session_id) as locked:
            if locked is None:
                return BeginRunReply()
            return await reconcile_log(locked.db, locked.session, step)

    @FINISH_TURN.implement
    async def finish_turn(self, request: FinishTurnRequest) -> None:
        """Mark events processed, close cut-off calls, then ``session.usage`` + ``session.status_idle``."""
        step = Step.current(request.session_id, request.step)
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                return
            now = utcnow()
            await log.mark_processed(locked.db, locked.session, request.processed_ids, now)
            closed = await answered_tool_uses(locked.db, step.session_id, request.close_tool_use_ids)
            uses = await log.by_ids(locked.db, step.session_id, request.close_tool_use_ids)
            cut = [
                result_event(
                    step, use_id, request.close_message or INTERRUPTED_MESSAGE, True, kind_of(uses.get(use_id))
                )
                for use_id in request.close_tool_use_ids
                if use_id not in closed
            ]
            await log.append(locked.db, locked.session, cut, now, hidden=True)
            await log.publish_all_results(locked.db, locked.session, now)
            new: list[NewEvent] = []
            if request.error_message is not None:
                kind = request.error_type if request.error_type and request.error_type.endswith("_error") else None
                message = request.error_message[:2000]
                fields: dict[str, str] = {}
                if kind and kind.startswith("mcp_"):
                    # The MCP variants name their server; without one the error can only be reported as unknown.
                    if request.mcp_server_name is None:
                        kind = "unknown_error"
                    else:
                        fields["mcp_server_name"] = request.mcp_server_name
                new.append(error_event(step, "error", kind or "unknown_error", message, "exhausted", **fields))
            new.extend(turn_end_events(locked.session, step, _stop_reason(request)))
            await log.append(locked.db, locked.session, new, now)
            stop_running(locked.session, now)

    @RESUME_TURN.implement
    async def resume_turn(self, request: ResumeRequest) -> None:
        """Every blocking call is answered: mark answers processed, go running, record denials."""
        step = Step.current(request.session_id, request.step)
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                return
            now = utcnow()
            await log.mark_processed(locked.db, locked.session, request.answer_ids, now)
            await log.append(locked.db, locked.session, [step.event("running", "session.status_running")], now)
            denials = await _denials(locked.db, step, request.answer_ids)
            await log.append(locked.db, locked.session, denials, now, hidden=True)
            await log.publish_results(locked.db, locked.session, request.order, now)
            start_running(locked.session, now, step.run)

    @ACKNOWLEDGE_EVENTS.implement
    async def acknowledge_events(self, request: AcknowledgeRequest) -> None:
        """Mark events processed with no other effect (an interrupt sent to an idle session)."""
        async with self._writer.locked(request.session_id) as locked:
            if locked is not None:
                await log.mark_processed(locked.db, locked.session, request.event_ids, utcnow())

    @RECORD_TOOL_RESULTS.implement
    async def record_tool_results(self, request: RecordResultsRequest) -> None:
        """Write an error result for each call: denied by policy, or with nothing to run it."""
        step = Step.current(request.session_id, request.step)
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                return
            now = utcnow()
            ids = [use.event_id for use in request.tool_uses]
            answered = await answered_tool_uses(locked.db, step.session_id, ids)
            new = [
                result_event(step, use.event_id, _result_text(request, use.name), True, use.kind)
                for use in request.tool_uses
                if use.event_id not in answered
            ]
            await log.append(locked.db, locked.session, new, now, hidden=True)
            await log.publish_results(locked.db, locked.session, request.order or ids, now)

    @NOTE_SANDBOX_RESET.implement
    async def note_sandbox_reset(self, notice: SandboxNotice) -> None:
        """Say in the log that the sandbox moved to a new host, and what became of the workspace."""
        outcome = (
            "The workspace was restored from shared storage."
            if notice.workspace_restored
            else "The workspace was reset: files written earlier in this session are gone."
        )
        message = (
            f"The sandbox host {notice.lost_host!r} stopped responding; a new sandbox was provisioned on "
            f"{notice.new_host!r}. {outcome}"
        )
        event = error_event(Step.current(notice.session_id, notice.step), "reset", "unknown_error", message, "retrying")
        async with self._writer.locked(notice.session_id) as locked:
            if locked is not None:
                await log.append(locked.db, locked.session, [event])
