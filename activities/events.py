"""Builders for the server-authored events activities write, and the usage bookkeeping that goes with them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from dma.bus import Bus, BusMessage
from dma.clock import as_utc
from dma.ids import event_id
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session


@dataclass(frozen=True)
class Step:
    """Names the events one activity writes: its session, its workflow run and the step the workflow allocated.

    Ids derive from all three, so a retried activity writes the same ids, and a later run never reuses them.
    """

    session_id: str
    run: str
    number: int

    @classmethod
    def current(cls, session_id: str, number: int) -> Step:
        """The step of the running activity, in the run of the workflow that scheduled it."""
        return cls(session_id, activity.info().workflow_run_id or "", number)

    def event_id(self, slot: str) -> str:
        """The id of this step's event in ``slot``."""
        return event_id(self.session_id, self.run, self.number, slot)

    def event(
        self, slot: str, event_type: str, body: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> NewEvent:
        """This step's event in ``slot``."""
        return NewEvent(self.event_id(slot), event_type, body or {}, self.number, extra, self.run)


def result_shape(kind: str) -> tuple[str, str]:
    """The result event type of a tool kind and the field naming the call: MCP calls get ``agent.mcp_tool_result``."""
    if kind == "mcp":
        return "agent.mcp_tool_result", "mcp_tool_use_id"
    return "agent.tool_result", "tool_use_id"


def status_event(step: Step, slot: str, status_type: str) -> NewEvent:
    """``session.status_running`` / ``_rescheduled`` / ``_terminated``."""
    return step.event(slot, status_type)


def error_event(step: Step, slot: str, error_type: str, message: str, retry: str, **fields: str) -> NewEvent:
    """``session.error`` with ``retry_status`` ``retrying`` | ``exhausted`` | ``terminal``.

    ``fields`` are the variant's own fields (``mcp_server_name`` of the MCP errors).
    """
    error = {"type": error_type, "message": message, "retry_status": {"type": retry}, **fields}
    return step.event(slot, "session.error", {"error": error})


def add_usage(session: Session, request_usage: dict[str, int]) -> None:
    """Fold one request's token counts into the session's cumulative usage."""
    usage: dict[str, Any] = dict(session.usage or {})
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        usage[key] = int(usage.get(key, 0)) + int(request_usage.get(key, 0))
    creation = dict(usage.get("cache_creation") or {})
    creation["ephemeral_5m_input_tokens"] = int(creation.get("ephemeral_5m_input_tokens", 0)) + int(
        request_usage.get("cache_creation_input_tokens", 0)
    )
    usage["cache_creation"] = creation
    session.usage = usage


def start_running(session: Session, now: datetime, run: str) -> None:
    """The session goes running in workflow run ``run``: start counting active time (once per stretch)."""
    session.status = "running"
    session.turn_run = run
    if session.running_since is None:
        session.running_since = now


def stop_running(session: Session, now: datetime) -> None:
    """The session goes idle: add the stretch to ``active_seconds``."""
    session.status = "idle"
    if session.running_since is not None:
        session.active_seconds += max(0.0, (now - as_utc(session.running_since)).total_seconds())
        session.running_since = None


def turn_end_events(session: Session, step: Step, stop_reason: dict[str, Any], slot: str = "") -> list[NewEvent]:
    """``session.usage`` then ``session.status_idle``: always emitted together, in that order."""
    usage_body: dict[str, Any] = {"usage": dict(session.usage or {})}
    if session.budget is not None:
        usage_body["budget"] = session.budget
    return [
        step.event(f"{slot}usage", "session.usage", usage_body),
        step.event(f"{slot}idle", "session.status_idle", {"stop_reason": stop_reason}),
    ]


@dataclass(frozen=True)
class Locked:
    """A session row locked in an open write transaction."""

    db: AsyncSession
    session: Session


class EventWriter:
    """Writes a session's events under its row lock, then rings the SSE doorbell once they are committed."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    @asynccontextmanager
    async def locked(self, session_id: str) -> AsyncGenerator[Locked | None, None]:
        """The locked session (None when it was deleted); the transaction commits when the block ends."""
        async with self._db.write() as db:
            session = await log.lock_session(db, session_id)
            yield None if session is None else Locked(db, session)
            if session is not None:
                db.add(session)
        if session is not None:
            self._bus.publish(BusMessage(session_id, "doorbell"))
