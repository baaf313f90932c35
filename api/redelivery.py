"""The reconciler: hands user events that never reached their workflow to it again, so no accepted event strands.

A delivery is lost when the process that accepted the events dies between the commit and the signal-with-start, or
when Temporal is unreachable then (the request still succeeds, with its events queued). The reconciler runs in the
API and in every worker, at start and every ``redelivery_seconds``. When all is well it costs one indexed query.

What it sends again is safe to send twice: the workflow keeps one inbox entry per message id, sets each answer once
(``setdefault``), and acknowledges an interrupt that arrives while nothing runs. It stays away from a workflow that
is in the middle of a step (a workflow task or an activity pending), which holds its events already; a session
whose events stay waiting is looked at again after a growing interval (capped at ``MAX_INTERVAL``), and the claim
on the session row keeps two reconcilers from delivering the same session at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api import session_control
from dma.clock import as_utc, utcnow
from dma.settings import CommonSettings
from dma.store import events as log
from dma.store import queued
from dma.store.engine import Database
from dma.store.tables import Session, SessionEvent
from workflows.contracts import Answer, Delivery

logger = logging.getLogger(__name__)

MAX_INTERVAL = timedelta(minutes=5)
WorkflowState = Literal["absent", "closed", "waiting", "busy", "unreachable"]


@dataclass(frozen=True)
class Claim:
    """A session this reconciler delivers now, and what it sends."""

    session: Session
    delivery: Delivery


def build_delivery(waiting: list[SessionEvent], answers: list[SessionEvent]) -> Delivery:
    """Every queued message and interrupt, in order, and the answers the parked turn waits for.

    A queued confirmation whose call no longer waits (the turn ended first) is left out: nothing would take it.
    """
    delivery = Delivery(
        message_ids=[event.id for event in waiting if event.type in ("user.message", "system.message")],
        interrupt_ids=[event.id for event in waiting if event.type == "user.interrupt"],
    )
    for answer in answers:
        allow = answer.type == "user.custom_tool_result" or answer.body.get("result") == "allow"
        delivery.answers.append(Answer(event_id=answer.id, tool_use_id=str(answer.ref), allow=allow))
    return delivery


def schedule_check(session: Session, settings: CommonSettings, *, answered: bool) -> None:
    """Called by a request that accepts events, under the row lock: when the reconciler should look at the session.

    Queued events are found without it. An answer processed on receipt (a custom tool result) is not queued, so it
    asks for a look after the grace period; and a look that a long interval put off is brought forward, so the new
    events do not wait for it. Nothing changes (and nothing is written) otherwise.
    """
    soon = utcnow() + timedelta(seconds=settings.redelivery_seconds)
    if (answered and session.redeliver_at is None) or (
        session.redeliver_at is not None and as_utc(session.redeliver_at) > soon
    ):
        session.redeliver_at = soon


def _is_empty(delivery: Delivery) -> bool:
    return not (delivery.message_ids or delivery.interrupt_ids or delivery.answers)


class Reconciler:
    """Finds sessions with waiting events and delivers them through the same signal-with-start as the API."""

    def __init__(self, db: Database, temporal: Client, settings: CommonSettings) -> None:
        self._db = db
        self._temporal = temporal
        self._settings = settings
        self._grace = timedelta(seconds=settings.redelivery_seconds)

    def start(self) -> asyncio.Task[None]:
        """Run at once and then periodically, until the task is cancelled."""
        return asyncio.create_task(self._run(), name="dma-redelivery")

    async def run_once(self) -> int:
        """One pass; returns how many sessions it delivered."""
        async with self._db.read() as db:
            due = await queued.due_sessions(db, utcnow(), self._grace)
        delivered = 0
        for session_id in due:
            claim = await self._claim(session_id)
            if claim is None:
                continue
            state = await self._workflow_state(session_id)
            if state == "busy":
                continue
            if state == "unreachable" or not await session_control.deliver(
                self._temporal, self._settings, claim.session, claim.delivery
            ):
                await self._retry_next_pass(session_id)
                break  # Temporal is unreachable: the rest waits for the next pass
            logger.info("redelivered %s waiting events to session %s", _count(claim.delivery), session_id)
            delivered += 1
        return delivered

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (SQLAlchemyError, OSError) as err:
                logger.warning("redelivery pass failed (%s); trying again", type(err).__name__)
            await asyncio.sleep(self._grace.total_seconds())

    async def _claim(self, session_id: str) -> Claim | None:
        """Under the session's row lock: what waits, and when to look again (so no other reconciler sends it now)."""
        async with self._db.write() as db:
            row = await log.lock_session(db, session_id)
            now = utcnow()
            if row is None or row.archived_at is not None:
                return None
            if row.redeliver_at is not None and as_utc(row.redeliver_at) > now:
                return None  # claimed by another reconciler since the query
            waiting = await queued.queued_events(db, session_id)
            answers = await queued.awaited_answers(db, session_id)
            delivery = build_delivery(waiting, answers)
            newest = max((as_utc(event.created_at) for event in [*waiting, *answers]), default=None)
            row.redeliver_at = None if newest is None else now + self._interval(now, newest)
            db.add(row)
        return None if _is_empty(delivery) else Claim(row, delivery)

    def _interval(self, now: datetime, newest: datetime) -> timedelta:
        """Doubles while the same events wait: a workflow that holds them (a parked turn) gets few signals."""
        return min(MAX_INTERVAL, max(self._grace, now - newest))

    async def _workflow_state(self, session_id: str) -> WorkflowState:
        handle = self._temporal.get_workflow_handle(session_id)
        timeout = session_control.DELIVERY_TIMEOUT
        try:
            async with asyncio.timeout(timeout.total_seconds()):
                described = await handle.describe(rpc_timeout=timeout)
        except RPCError as err:
            return "absent" if err.status == RPCStatusCode.NOT_FOUND else "unreachable"
        except TimeoutError:
            return "unreachable"
        if described.status != WorkflowExecutionStatus.RUNNING:
            return "closed"
        raw = described.raw_description
        # A pending workflow task means signals the workflow has not seen yet; a pending activity, a step that has
        # taken its events. Either way the workflow holds what it was sent, and a second copy could start a turn.
        if raw.pending_activities or raw.HasField("pending_workflow_task"):
            return "busy"
        return "waiting"

    async def _retry_next_pass(self, session_id: str) -> None:
        with contextlib.suppress(SQLAlchemyError):
            async with self._db.write() as db:
                row = await log.lock_session(db, session_id)
                if row is not None:
                    row.redeliver_at = utcnow()
                    db.add(row)


def _count(delivery: Delivery) -> int:
    return len(delivery.message_ids) + len(delivery.interrupt_ids) + len(delivery.answers)
