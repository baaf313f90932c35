"""Turn bookkeeping activities: going idle, resuming after answers, and writing tool results nobody executes."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.events import error_event, start_running, stop_running, turn_end_events
from activities.permissions import denial_text
from dma.bus import Bus, BusMessage
from dma.clock import utcnow
from dma.ids import event_id
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import SessionEvent
from workflows.contracts import FinishTurnRequest, RecordResultsRequest, ResumeRequest, SandboxNotice

NO_EXECUTOR_MESSAGE = "Tool '{name}' is not available: this server has no executor for built-in tools yet."
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


class TurnActivities:
    """Activities that only write the event log."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    def _ring(self, session_id: str) -> None:
        self._bus.publish(BusMessage(session_id, "doorbell"))

    @activity.defn(name="finish_turn")
    async def finish_turn(self, request: FinishTurnRequest) -> None:
        """Mark events processed, close cut-off calls, then ``session.usage`` + ``session.status_idle``; idempotent."""
        sid, step = request.session_id, request.step
        async with self._db.write() as db:
            session = await log.lock_session(db, sid)
            if session is None:
                return
            now = utcnow()
            await log.mark_processed(db, session, request.processed_ids, now)
            new: list[NewEvent] = []
            closed = await answered_tool_uses(db, sid, request.close_tool_use_ids)
            new.extend(
                result_event(sid, step, use_id, INTERRUPTED_MESSAGE, True)
                for use_id in request.close_tool_use_ids
                if use_id not in closed
            )
            if request.error_message is not None:
                kind = request.error_type if request.error_type and request.error_type.endswith("_error") else None
                message = request.error_message[:2000]
                new.append(error_event(sid, step, "error", kind or "unknown_error", message, "exhausted"))
            stop: dict[str, Any] = {"type": request.stop_reason}
            if request.stop_reason == "requires_action":
                stop["event_ids"] = request.blocking_ids
            new.extend(turn_end_events(session, step, stop))
            await log.append(db, session, new, now)
            stop_running(session, now)
            db.add(session)
        self._ring(sid)

    @activity.defn(name="resume_turn")
    async def resume_turn(self, request: ResumeRequest) -> None:
        """Every blocking call is answered: mark answers processed, go running, record denials."""
        sid, step = request.session_id, request.step
        async with self._db.write() as db:
            session = await log.lock_session(db, sid)
            if session is None:
                return
            now = utcnow()
            await log.mark_processed(db, session, request.answer_ids, now)
            new = [NewEvent(event_id(sid, step, "running"), "session.status_running", {}, step)]
            new.extend(await self._denials(db, sid, step, request.answer_ids))
            await log.append(db, session, new, now)
            start_running(session, now)
            db.add(session)
        self._ring(sid)

    @staticmethod
    async def _denials(db: AsyncSession, sid: str, step: int, answer_ids: list[str]) -> list[NewEvent]:
        rows = await db.exec(
            select(SessionEvent).where(
                col(SessionEvent.id).in_(answer_ids), SessionEvent.type == "user.tool_confirmation"
            )
        )
        denied = [row for row in rows.all() if row.body.get("result") == "deny"]
        names: dict[str, str] = {}
        if denied:
            uses = await db.exec(
                select(SessionEvent).where(col(SessionEvent.id).in_([r.body["tool_use_id"] for r in denied]))
            )
            names = {use.id: str(use.body.get("name", "")) for use in uses.all()}
        return [
            result_event(
                sid,
                step,
                row.body["tool_use_id"],
                denial_text(names.get(row.body["tool_use_id"], "this tool"), row.body.get("deny_message")),
                True,
            )
            for row in denied
        ]

    @activity.defn(name="acknowledge_events")
    async def acknowledge_events(self, request: ResumeRequest) -> None:
        """Mark events processed with no other effect (an interrupt sent to an idle session)."""
        async with self._db.write() as db:
            session = await log.lock_session(db, request.session_id)
            if session is None:
                return
            await log.mark_processed(db, session, request.answer_ids, utcnow())
        self._ring(request.session_id)

    @activity.defn(name="record_tool_results")
    async def record_tool_results(self, request: RecordResultsRequest) -> None:
        """Write an error result for each call: denied by policy, or with nothing to execute it."""
        sid, step = request.session_id, request.step
        async with self._db.write() as db:
            session = await log.lock_session(db, sid)
            if session is None:
                return
            new = [
                result_event(sid, step, use.event_id, _result_text(request, use.name), True)
                for use in request.tool_uses
            ]
            await log.append(db, session, new)
        self._ring(sid)

    @activity.defn(name="note_sandbox_reset")
    async def note_sandbox_reset(self, notice: SandboxNotice) -> None:
        """Say in the log that the sandbox moved to a new host with an empty workspace (the session goes on)."""
        outcome = (
            "The workspace was restored from shared storage."
            if notice.workspace_restored
            else "The workspace was reset: files written earlier in this session are gone."
        )
        message = (
            f"The sandbox host {notice.lost_host!r} stopped responding; a new sandbox was provisioned on "
            f"{notice.new_host!r}. {outcome}"
        )
        async with self._db.write() as db:
            session = await log.lock_session(db, notice.session_id)
            if session is None:
                return
            await log.append(
                db,
                session,
                [error_event(notice.session_id, notice.step, "reset", "unknown_error", message, "retrying")],
            )
        self._ring(notice.session_id)


def _result_text(request: RecordResultsRequest, tool_name: str) -> str:
    if request.reason == "denied":
        return denial_text(tool_name)
    if request.reason == "sandbox_unavailable":
        return f"Tool '{tool_name}' could not run: no sandbox is available ({request.message or 'unknown reason'})."
    return NO_EXECUTOR_MESSAGE.format(name=tool_name)
