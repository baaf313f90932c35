"""Session events: send, list, stream (API_CONTRACT.md §2.4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api import event_intake, redelivery, session_control
from api.deps import StateDep
from api.errors import InvalidRequest, NotFound
from api.model_rules import at_budget, reject_work_at_budget
from api.query import decode_cursor, encode_cursor, multi, page_limit, time_filters
from api.routes.sessions import load_session
from api.sse import StreamOptions, stream_events
from dma.bus import BusMessage
from dma.ids import is_id
from dma.schemas.events import SendEvents
from dma.store import event_pages, queued
from dma.store import events as log
from dma.store.tables import SessionEvent

router = APIRouter(prefix="/v1/sessions/{session_id}/events", tags=["events"])

EVENT_TYPES = frozenset(
    {
        "user.message", "user.interrupt", "user.tool_confirmation", "user.custom_tool_result", "user.tool_result",
        "user.define_outcome", "system.message", "agent.message", "agent.thinking", "agent.tool_use",
        "agent.tool_result", "agent.mcp_tool_use", "agent.mcp_tool_result", "agent.custom_tool_use",
        "agent.thread_message_sent", "agent.thread_message_received", "agent.thread_context_compacted",
        "session.status_running", "session.status_idle", "session.status_rescheduled", "session.status_terminated",
        "session.error", "session.updated", "session.usage", "session.deleted", "session.thread_created",
        "session.thread_status_running", "session.thread_status_idle", "session.thread_status_rescheduled",
        "session.thread_status_terminated", "span.model_request_start", "span.model_request_end",
        "span.outcome_evaluation_start", "span.outcome_evaluation_ongoing", "span.outcome_evaluation_end",
        "workflow_run.created", "workflow_run.status_running", "workflow_run.status_idle",
        "workflow_run.status_ended", "workflow_run.phase_started", "workflow_run.phase_ended", "workflow_run.error",
    }
)  # fmt: skip
PREVIEWABLE = frozenset({"agent.message", "agent.thinking"})
MAX_PAGE = 1000
# Readers wake on the bus (sockets on SQLite, NOTIFY on PostgreSQL); the poll only catches what a bus lost.
DEFAULT_POLL_SECONDS = 1.0


class EventPage(BaseModel):
    data: list[dict[str, Any]]
    next_page: str | None = None


class SentEvents(BaseModel):
    data: list[dict[str, Any]]


@router.post("", response_model=SentEvents)
async def send_events(session_id: str, body: SendEvents, state: StateDep) -> dict[str, Any]:
    """Queue events for the session; a ``user.message`` starts (or queues) a turn."""
    # The session is looked up once, locked in the write below (no read transaction before it: one fewer per POST).
    if not is_id(session_id, "sesn"):
        raise NotFound("session", session_id)
    events: list[BaseModel] = list(body.events)
    event_intake.check_shapes(events)
    event_intake.check_sizes(events, state.settings)
    async with state.db.write() as db:
        row = await log.lock_session(db, session_id)
        if row is None:
            raise NotFound("session", session_id)
        if row.archived_at is not None:
            raise InvalidRequest("the session is archived and accepts no new events")
        reject_work_at_budget(row, [str(getattr(event, "type", "")) for event in events])
        await event_intake.check_files(db, events)
        intake = await event_intake.take_in(db, session_id, events, at_budget=at_budget(row))
        await log.insert_user_events(db, session_id, intake.queued)
        await log.append(db, row, intake.processed_now)
        # Every still-queued message rides along, so this delivery also heals one that was lost before it.
        intake.delivery.message_ids = await queued.queued_message_ids(db, session_id)
        redelivery.schedule_check(row, state.settings, answered=bool(intake.processed_now))
        db.add(row)
    # If Temporal does not take it now, the events stay queued and the reconciler delivers them (api/redelivery.py).
    delivered = await session_control.deliver(state.temporal, state.settings, row, intake.delivery)
    if delivered and intake.delivery.interrupt_ids:
        # Only once the workflow has the interrupt: the model request it ends returns, and the workflow, which by
        # then has seen the signal, ends the turn (a heartbeat would bring Temporal's cancellation later).
        state.bus.publish(BusMessage(session_id, "interrupt"))
    if intake.processed_now:
        state.bus.publish(BusMessage(session_id, "doorbell"))
    return {"data": await _echo(state, session_id, intake)}


async def _echo(state: StateDep, session_id: str, intake: event_intake.Intake) -> list[dict[str, Any]]:
    """Each event as stored: queued ones with ``processed_at: null``, processed-on-receipt ones with their stamp."""
    stored: dict[str, SessionEvent] = {}
    if intake.processed_now:  # a plain user.message is only queued: nothing to read back
        async with state.db.read() as db:
            stored = await log.by_ids(db, session_id, [event.id for event in intake.processed_now])
    echoed: list[dict[str, Any]] = []
    for event in intake.ordered:
        row = stored.get(event.id)
        echoed.append(
            log.wire(row)
            if row is not None
            else {"id": event.id, "type": event.type, **event.body, "processed_at": None}
        )
    return echoed


@router.get("", response_model=EventPage)
async def list_events(
    session_id: str,
    request: Request,
    state: StateDep,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    page: str | None = None,
) -> dict[str, Any]:
    """List persisted events in ``processed_at`` order (queued ones last)."""
    await load_session(state, session_id)
    types = tuple(multi(request, "types"))
    unknown = [value for value in types if value not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(f"types[] has unknown event type {unknown[0][:64]!r}")
    limit = page_limit(request, default=MAX_PAGE, maximum=MAX_PAGE)
    position = decode_cursor(page) if page else {}
    if position and set(position) != {"s", "p"}:
        raise InvalidRequest("page is not a cursor this server issued")
    query = event_pages.EventQuery(
        session_id=session_id,
        types=types,
        processed=time_filters(request),
        descending=order == "desc",
        after_seq=_int_or_none(position.get("s")),
        after_pos=_int_or_none(position.get("p")),
        started=bool(position),
    )
    async with state.db.read() as db:
        rows = await event_pages.read_page(db, query, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_page = encode_cursor({"s": rows[-1].seq, "p": rows[-1].pos}) if more and rows else None
    return {"data": [log.wire(row) for row in rows], "next_page": next_page}


def _int_or_none(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    raise InvalidRequest("page is not a cursor this server issued")


@router.get("/stream", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def stream_session_events(
    session_id: str,
    request: Request,
    state: StateDep,
    after: str | None = None,
    last_event_id: Annotated[str | None, Header(alias="last-event-id")] = None,
) -> StreamingResponse:
    """Stream the session's events as server-sent events."""
    await load_session(state, session_id)
    previews = multi(request, "event_deltas")
    if len(previews) > 100:
        raise InvalidRequest("event_deltas[] accepts at most 100 values")
    for value in previews:
        if value not in PREVIEWABLE:
            raise InvalidRequest(f"event_deltas[] accepts agent.message and agent.thinking, got {value[:64]!r}")
    resume_from = after or last_event_id
    async with state.db.read() as db:
        if resume_from:
            after_seq = await log.seq_of(db, session_id, resume_from)
            if after_seq is None:
                raise InvalidRequest(f"cannot resume after {resume_from[:64]!r}: no such event in this session")
        else:
            after_seq = await log.last_seq(db, session_id)
    poll = state.settings.sse_poll_seconds or DEFAULT_POLL_SECONDS
    options = StreamOptions(session_id, frozenset(previews), after_seq, poll)
    return StreamingResponse(
        stream_events(state, options),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
