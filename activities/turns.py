"""Turn bookkeeping activities: ending a turn the model could not end, and recording tool results."""

from __future__ import annotations

from temporalio import activity

from activities.events import error_event, turn_end_events
from dma.bus import Bus, BusMessage
from dma.clock import utcnow
from dma.ids import event_id
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from workflows.contracts import FinishTurnRequest, ToolBatchRequest

NO_EXECUTOR_MESSAGE = "Tool '{name}' is not available: this server has no executor for built-in tools yet."


class TurnActivities:
    """Activities that only write the event log."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name="finish_turn")
    async def finish_turn(self, request: FinishTurnRequest) -> None:
        """Write ``session.error`` (if any), ``session.usage`` and ``session.status_idle``; idempotent."""
        sid, step = request.session_id, request.step
        async with self._db.write() as db:
            session = await log.lock_session(db, sid)
            if session is None:
                return
            now = utcnow()
            # Input dropped by exhausted retries still becomes processed, so it never looks queued forever.
            await log.mark_processed(db, session, request.drop_event_ids, now)
            new: list[NewEvent] = []
            if request.error_message is not None:
                kind = request.error_type if request.error_type and request.error_type.endswith("_error") else None
                new.append(
                    error_event(sid, step, "error", kind or "unknown_error", request.error_message[:2000], "exhausted")
                )
            new.extend(turn_end_events(session, step, {"type": request.stop_reason}))
            await log.append(db, session, new, now)
            session.status = "idle"
            db.add(session)
        self._bus.publish(BusMessage(sid, "doorbell"))

    @activity.defn(name="run_tools")
    async def run_tools(self, request: ToolBatchRequest) -> None:
        """Record a result for each tool call (until the toolset lands, an error result)."""
        sid, step = request.session_id, request.step
        async with self._db.write() as db:
            session = await log.lock_session(db, sid)
            if session is None:
                return
            new = [
                NewEvent(
                    event_id(sid, step, f"result:{use.event_id}"),
                    "agent.tool_result",
                    {
                        "tool_use_id": use.event_id,
                        "content": [{"type": "text", "text": NO_EXECUTOR_MESSAGE.format(name=use.name)}],
                        "is_error": True,
                    },
                    step,
                )
                for use in request.tool_uses
            ]
            await log.append(db, session, new)
        self._bus.publish(BusMessage(sid, "doorbell"))
