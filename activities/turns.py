"""Turn bookkeeping activities: going idle, resuming after answers, and writing tool results nobody executes."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.events import EventWriter, error_event, start_running, stop_running, turn_end_events
from activities.permissions import denial_text
from dma.bus import Bus
from dma.clock import utcnow
from dma.ids import event_id
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import SessionEvent
from workflows.contracts import FinishTurnRequest, RecordResultsRequest, ResumeRequest, SandboxNotice

NO_EXECUTOR_MESSAGE = "Tool '{name}' is not available: this server has no executor for it."
INTERRUPTED_MESSAGE = "The call was cancelled: the user interrupted the turn."
RESULT_TYPES = ("agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result", "user.tool_result")


def result_event(session_id: str, step: int, tool_use_id: str, text: str, is_error: bool) -> NewEvent:
    """An ``agent.tool_result`` with a deterministic id."""
    body: dict[str, Any] = {
        "tool_use_id": tool_use_id,
        "content": [{"type": "text", "text": text}],
        "is_error": is_error,
    }
    return NewEvent(event_id(session_id, step, f"result:{tool_use_id}"), "agent.tool_result", body, step)


async def answered_tool_uses(db: AsyncSession, session_id: str, tool_use_ids: list[str]) -> set[str]:
    """Which of these tool uses already have a result in the log."""
    return await log.referenced(db, session_id, tool_use_ids, RESULT_TYPES)


def _stop_reason(request: FinishTurnRequest) -> dict[str, Any]:
    stop: dict[str, Any] = {"type": request.stop_reason}
    if request.stop_reason == "requires_action":
        stop["event_ids"] = request.blocking_ids
    return stop


def _result_text(request: RecordResultsRequest, tool_name: str) -> str:
    if request.reason == "denied":
        return denial_text(tool_name)
    if request.reason == "sandbox_unavailable":
        return f"Tool '{tool_name}' could not run: no sandbox is available ({request.message or 'unknown reason'})."
    return NO_EXECUTOR_MESSAGE.format(name=tool_name)


async def _denials(db: AsyncSession, sid: str, step: int, answer_ids: list[str]) -> list[NewEvent]:
    """Error results for the calls a person denied, carrying their ``deny_message``."""
    statement = select(SessionEvent).where(
        col(SessionEvent.id).in_(answer_ids), SessionEvent.type == "user.tool_confirmation"
    )
    denied = [row for row in (await db.exec(statement)).all() if row.body.get("result") == "deny"]
    uses = await log.by_ids(db, sid, [row.body["tool_use_id"] for row in denied])
    return [
        result_event(
            sid,
            step,
            row.body["tool_use_id"],
            denial_text(str(uses[row.body["tool_use_id"]].body.get("name", "this tool")), row.body.get("deny_message")),
            True,
        )
        for row in denied
        if row.body["tool_use_id"] in uses
    ]


class TurnActivities:
    """Activities that only write the event log; each is one transaction and idempotent (deterministic ids)."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._writer = EventWriter(db, bus)

    @activity.defn(name="finish_turn")
    async def finish_turn(self, request: FinishTurnRequest) -> None:
        """Mark events processed, close cut-off calls, then ``session.usage`` + ``session.status_idle``."""
        sid, step = request.session_id, request.step
        async with self._writer.locked(sid) as locked:
            if locked is None:
                return
            now = utcnow()
            await log.mark_processed(locked.db, locked.session, request.processed_ids, now)
            closed = await answered_tool_uses(locked.db, sid, request.close_tool_use_ids)
            new = [
                result_event(sid, step, use_id, INTERRUPTED_MESSAGE, True)
                for use_id in request.close_tool_use_ids
                if use_id not in closed
            ]
            if request.error_message is not None:
                kind = request.error_type if request.error_type and request.error_type.endswith("_error") else None
                message = request.error_message[:2000]
                new.append(error_event(sid, step, "error", kind or "unknown_error", message, "exhausted"))
            new.extend(turn_end_events(locked.session, step, _stop_reason(request)))
            await log.append(locked.db, locked.session, new, now)
            stop_running(locked.session, now)

    @activity.defn(name="resume_turn")
    async def resume_turn(self, request: ResumeRequest) -> None:
        """Every blocking call is answered: mark answers processed, go running, record denials."""
        sid, step = request.session_id, request.step
        async with self._writer.locked(sid) as locked:
            if locked is None:
                return
            now = utcnow()
            await log.mark_processed(locked.db, locked.session, request.answer_ids, now)
            new = [NewEvent(event_id(sid, step, "running"), "session.status_running", {}, step)]
            new.extend(await _denials(locked.db, sid, step, request.answer_ids))
            await log.append(locked.db, locked.session, new, now)
            start_running(locked.session, now)

    @activity.defn(name="acknowledge_events")
    async def acknowledge_events(self, request: ResumeRequest) -> None:
        """Mark events processed with no other effect (an interrupt sent to an idle session)."""
        async with self._writer.locked(request.session_id) as locked:
            if locked is not None:
                await log.mark_processed(locked.db, locked.session, request.answer_ids, utcnow())

    @activity.defn(name="record_tool_results")
    async def record_tool_results(self, request: RecordResultsRequest) -> None:
        """Write an error result for each call: denied by policy, or with nothing to run it."""
        sid, step = request.session_id, request.step
        new = [
            result_event(sid, step, use.event_id, _result_text(request, use.name), True) for use in request.tool_uses
        ]
        async with self._writer.locked(sid) as locked:
            if locked is not None:
                await log.append(locked.db, locked.session, new)

    @activity.defn(name="note_sandbox_reset")
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
        event = error_event(notice.session_id, notice.step, "reset", "unknown_error", message, "retrying")
        async with self._writer.locked(notice.session_id) as locked:
            if locked is not None:
                await log.append(locked.db, locked.session, [event])
