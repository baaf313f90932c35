"""What a new run of a session picks up from the log when the run before it ended abruptly.

An operator's terminate, a failed workflow or a lost Temporal state end a run wherever it was; the next delivery
starts a fresh one (``SessionStart.reconcile``). The log then tells what that run left behind, and only the part
after the last ``session.status_idle`` matters:

- a turn in progress (``session.status_running`` after the last idle): its open spans get an error end, its calls
  without results an error result, and the turn ends with a ``session.error`` saying why, then ``session.usage`` and
  ``session.status_idle`` (``end_turn``), so the next message starts a clean turn;
- a turn parked on people (the last idle is ``requires_action``): its unanswered calls and the answers already given
  go back to the workflow, which waits for the rest as the old run did;
- user events still queued (and the system messages of deployments and wakeups): their ids, in order, so none is
  stranded;
- one-shot wakeups still pending: their timers, which the new run arms again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.events import Step, error_event, stop_running, turn_end_events
from activities.model.context import TOOL_USE_TYPES
from dma.clock import as_utc, utcnow
from dma.store import events as log
from dma.store import wakeups as wakeup_store
from dma.store.events import RESULT_TYPES, NewEvent
from dma.store.tables import Session, SessionEvent
from workflows.contracts import Answer, BeginRunReply, ToolUseRef, WakeupTimer

CUT_OFF_MESSAGE = "No result: the session's workflow was restarted while this call ran."
RESTARTED_MESSAGE = (
    "The session's workflow was restarted while a turn was running (an operator's terminate or reset, or a lost "
    "workflow); that turn was cut off. The next message starts a new turn."
)
ANSWER_TYPES = ("user.tool_confirmation", "user.custom_tool_result")
ZERO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


async def _tail(db: AsyncSession, session_id: str) -> tuple[SessionEvent | None, list[SessionEvent]]:
    """The last ``session.status_idle`` and every visible event after it."""
    last_idle_seq = (
        await db.exec(
            select(func.max(SessionEvent.seq)).where(
                SessionEvent.session_id == session_id, SessionEvent.type == "session.status_idle"
            )
        )
    ).first() or 0
    statement = (
        select(SessionEvent)
        .where(SessionEvent.session_id == session_id, col(SessionEvent.seq) >= last_idle_seq)
        .order_by(col(SessionEvent.seq))
    )
    rows = list((await db.exec(statement)).all())
    if rows and rows[0].type == "session.status_idle":
        return rows[0], rows[1:]
    return None, rows


async def _queued(db: AsyncSession, session_id: str) -> list[SessionEvent]:
    statement = (
        select(SessionEvent)
        .where(
            SessionEvent.session_id == session_id,
            col(SessionEvent.seq).is_(None),
            col(SessionEvent.type).in_(("user.message", "system.message", "user.interrupt")),
        )
        .order_by(col(SessionEvent.pos))
    )
    return list((await db.exec(statement)).all())


async def _close_dead_turn(db: AsyncSession, session: Session, step: Step, tail: list[SessionEvent]) -> None:
    ended = {row.body.get("model_request_start_id") for row in tail if row.type == "span.model_request_end"}
    new: list[NewEvent] = []
    for row in tail:
        if row.type == "span.model_request_start" and row.id not in ended:
            body: dict[str, Any] = {"model_request_start_id": row.id, "is_error": True, "model_usage": dict(ZERO_USAGE)}
            new.append(step.event(f"dead:span_end:{row.id}", "span.model_request_end", body))
    uses = [row for row in tail if row.type in TOOL_USE_TYPES]
    answered = await log.referenced(db, session.id, [row.id for row in uses], RESULT_TYPES)
    for use in uses:
        if use.id not in answered:
            mcp = use.type == "agent.mcp_tool_use"
            key, result_type = (
                ("mcp_tool_use_id", "agent.mcp_tool_result") if mcp else ("tool_use_id", "agent.tool_result")
            )
            body = {key: use.id, "content": [{"type": "text", "text": CUT_OFF_MESSAGE}], "is_error": True}
            new.append(step.event(f"dead:result:{use.id}", result_type, body))
    now = utcnow()
    await log.publish_all_results(db, session, now)
    new.append(error_event(step, "dead:restarted", "unknown_error", RESTARTED_MESSAGE, "exhausted"))
    new.extend(turn_end_events(session, step, {"type": "end_turn"}, slot="dead:"))
    await log.append(db, session, new, now)
    stop_running(session, now)


def _stop_reason(idle: SessionEvent) -> dict[str, Any]:
    stop: dict[str, Any] = idle.body.get("stop_reason") or {}
    return stop


def _allows(answer: SessionEvent) -> bool:
    return answer.type == "user.custom_tool_result" or answer.body.get("result") == "allow"


async def _blocked(db: AsyncSession, session_id: str, idle: SessionEvent) -> tuple[list[ToolUseRef], list[Answer]]:
    ids: list[Any] = _stop_reason(idle).get("event_ids") or []
    waiting = [str(i) for i in ids]
    uses = await log.by_ids(db, session_id, waiting)
    statement = select(SessionEvent).where(
        SessionEvent.session_id == session_id,
        col(SessionEvent.ref).in_(waiting),
        col(SessionEvent.type).in_(ANSWER_TYPES),
    )
    answers = [
        Answer(event_id=row.id, tool_use_id=row.ref or "", allow=_allows(row))
        for row in (await db.exec(statement)).all()
    ]
    blocking = [
        ToolUseRef(
            event_id=use.id,
            name=str(use.body.get("name", "")),
            kind=TOOL_USE_TYPES[use.type],  # pyright: ignore[reportArgumentType] - values are ToolKind literals
            permission=use.body.get("evaluated_permission"),
            mcp_server_name=use.body.get("mcp_server_name"),
        )
        for use_id in waiting
        if (use := uses.get(use_id)) is not None and use.type in TOOL_USE_TYPES
    ]
    return blocking, answers


async def close_dead_turn(db: AsyncSession, session: Session, step: Step) -> bool:
    """End a turn another run left running (only one run of a session is alive, so it is dead); True if one was."""
    if session.status not in ("running", "rescheduling"):
        return False
    _, tail = await _tail(db, session.id)
    if not any(row.type == "session.status_running" for row in tail):
        return False
    await _close_dead_turn(db, session, step, tail)
    return True


async def reconcile_log(db: AsyncSession, session: Session, step: Step) -> BeginRunReply:
    """Close what the run before left open and say what the new run must pick up (the session row is locked)."""
    # From here on the run before writes nothing more (``superseded``), even a model request still finishing.
    session.turn_run = step.run
    reply = BeginRunReply()
    if await close_dead_turn(db, session, step):
        idle = None
    else:
        idle, _ = await _tail(db, session.id)
    if idle is not None and _stop_reason(idle).get("type") == "requires_action":
        reply.blocking, reply.answers = await _blocked(db, session.id, idle)
    reply.budget_paused = idle is not None and _stop_reason(idle).get("type") == "budget_reached"
    for row in await _queued(db, session.id):
        if row.type == "user.interrupt":
            reply.queued_interrupts.append(row.id)
        else:
            reply.queued_messages.append(row.id)
    # One-shot wakeups lived as timers of the run that is gone; the new run arms them again.
    for wakeup in await wakeup_store.pending(db, session.id):
        if wakeup.kind == "once" and wakeup.fire_at is not None:
            reply.wakeups.append(WakeupTimer(wakeup_id=wakeup.id, fire_at=as_utc(wakeup.fire_at)))
    return reply


def superseded(session: Session, step: Step) -> bool:
    """Whether another workflow run took the session over from ``step``'s (an operator's terminate or reset).

    The run that took over closed the turn ``step``'s run left (``close_dead_turn``); a model request of the old
    run that finishes later (a local activity runs on after its workflow is gone) must not add to it.
    """
    return session.turn_run is not None and session.turn_run != step.run
