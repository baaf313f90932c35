"""What every tool-call activity does with the log: find the call and any recorded result, write the result.

A call that already has a result (a retried attempt, or a later run repeating the call) is not run again: the
activity only shows what the model's order now allows. Results are written hidden and shown in the model's order
(``log.publish_results``), whatever order the calls of one model response finish in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from dma.bus import Bus, BusMessage
from dma.clock import utcnow
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import RESULT_TYPES, NewEvent
from dma.store.tables import Session, SessionEvent


async def load_call(
    db: Database, session_id: str, use_id: str
) -> tuple[Session | None, SessionEvent | None, SessionEvent | None]:
    """The session, the call, and the call's result if one was already recorded."""
    async with db.read() as session:
        row = await session.get(Session, session_id)
        call = await session.exec(
            select(SessionEvent).where(SessionEvent.id == use_id, SessionEvent.session_id == session_id)
        )
        result = await session.exec(
            select(SessionEvent).where(
                SessionEvent.session_id == session_id,
                SessionEvent.ref == use_id,
                col(SessionEvent.type).in_(RESULT_TYPES),
            )
        )
        return row, call.first(), result.first()


@dataclass(frozen=True)
class PendingCall:
    """A call that still has to run: its session and its ``agent.*tool_use`` row."""

    session: Session
    call: SessionEvent


async def pending_call(db: Database, bus: Bus, session_id: str, use_id: str, order: list[str]) -> PendingCall | bool:
    """The call to run, or (when its result is already recorded, now shown as the order allows) that result's is_error.

    Raises:
        ApplicationError: the session was deleted (non-retryable) or the call is not in the log.
    """
    session, call, recorded = await load_call(db, session_id, use_id)
    if recorded is not None:
        await publish_recorded(db, bus, session_id, order)
        return bool(recorded.body.get("is_error"))
    if session is None:
        raise ApplicationError("session was deleted", type="session_gone", non_retryable=True)
    if call is None:
        raise ApplicationError(f"tool use {use_id} is not in the log", type="tool_use_missing")
    return PendingCall(session, call)


async def record_result(db: Database, bus: Bus, session_id: str, result: NewEvent, order: list[str]) -> None:
    """Append a call's result hidden, then show every result the order allows."""
    async with db.write() as session:
        locked = await log.lock_session(session, session_id)
        if locked is None:
            return
        now = utcnow()
        await log.append(session, locked, [result], now, hidden=True)
        await log.publish_results(session, locked, order or [str(result.ref)], now)
    bus.publish(BusMessage(session_id, "doorbell"))


async def publish_recorded(db: Database, bus: Bus, session_id: str, order: list[str]) -> None:
    """A repeated call whose result is already recorded: show what the order now allows."""
    async with db.write() as session:
        locked = await log.lock_session(session, session_id)
        if locked is not None and await log.publish_results(session, locked, order, utcnow()):
            session.add(locked)
    bus.publish(BusMessage(session_id, "doorbell"))
