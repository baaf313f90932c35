"""Checks client events against the session's log and decides how each is stored and delivered.

Answers (``user.tool_confirmation``, ``user.custom_tool_result``) are checked here, against the DB that the workflow
keeps current (DESIGN.md §3): the referenced call must be in this session, of the right kind, blocking, and not
answered yet. Everything runs under the session row lock, so two racing answers cannot both pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import InvalidRequest
from dma.ids import new_id
from dma.schemas.events import UserCustomToolResult, UserToolConfirmation, event_body, has_redacted_block
from dma.settings import ApiSettings
from dma.store import events as log
from dma.store.events import NewEvent
from workflows.contracts import Answer, Delivery

SUPPORTED_TYPES = frozenset({"user.message", "user.interrupt", "user.tool_confirmation", "user.custom_tool_result"})
CONFIRMABLE_TYPES = frozenset({"agent.tool_use", "agent.mcp_tool_use"})
ANSWER_TYPES = ("user.tool_confirmation", "user.custom_tool_result", "agent.tool_result", "agent.mcp_tool_result")


@dataclass
class Intake:
    """What one ``POST …/events`` request stores and delivers."""

    queued: list[NewEvent] = field(default_factory=list[NewEvent])
    processed_now: list[NewEvent] = field(default_factory=list[NewEvent])
    ordered: list[NewEvent] = field(default_factory=list[NewEvent])
    ignored: list[NewEvent] = field(default_factory=list[NewEvent])
    delivery: Delivery = field(default_factory=Delivery)


def check_sizes(events: Sequence[BaseModel], settings: ApiSettings) -> None:
    """Refuse an event, or a request's events together, larger as stored than the limits allow (nothing written).

    Sizes are measured as the store writes them (JSON), so a limit means the same on every database.
    """
    total = 0
    for index, event in enumerate(events):
        size = len(json.dumps(event_body(event)).encode())
        if size > settings.max_event_bytes:
            raise InvalidRequest(
                f"events.{index} is {size} bytes; an event may hold at most {settings.max_event_bytes} bytes "
                "(DMA_MAX_EVENT_BYTES)"
            )
        total += size
    if total > settings.max_request_event_bytes:
        raise InvalidRequest(
            f"the events of this request hold {total} bytes together; the limit is "
            f"{settings.max_request_event_bytes} bytes (DMA_MAX_REQUEST_EVENT_BYTES)"
        )


def check_shapes(events: list[BaseModel]) -> None:
    """Reject what no session could take, before touching the DB."""
    for index, event in enumerate(events):
        kind = str(getattr(event, "type", ""))
        if kind not in SUPPORTED_TYPES:
            raise InvalidRequest(f"events.{index}: {kind} is not supported by this server yet")
        if has_redacted_block(event):
            raise InvalidRequest(f"events.{index}: user events may not contain redacted blocks")
        if isinstance(event, UserToolConfirmation) and event.deny_message is not None and event.result != "deny":
            raise InvalidRequest(f"events.{index}: deny_message is only allowed with result 'deny'")


async def _check_answers(db: AsyncSession, session_id: str, events: list[BaseModel]) -> None:
    targets = [_target(event) for event in events if _target(event) is not None]
    if len(set(targets)) != len(targets):
        raise InvalidRequest("the same tool use is answered twice in one request")
    found = await log.by_ids(db, session_id, [t for t in targets if t is not None])
    answered = await log.referenced(db, session_id, [t for t in targets if t is not None], ANSWER_TYPES)
    for index, event in enumerate(events):
        target = _target(event)
        if target is None:
            continue
        row = found.get(target)
        if row is None:
            raise InvalidRequest(f"events.{index}: {target[:64]!r} is not a tool use of this session")
        if isinstance(event, UserToolConfirmation) and (
            row.type not in CONFIRMABLE_TYPES or row.body.get("evaluated_permission") != "ask"
        ):
            raise InvalidRequest(f"events.{index}: {target!r} is not waiting for a confirmation")
        if isinstance(event, UserCustomToolResult) and row.type != "agent.custom_tool_use":
            raise InvalidRequest(f"events.{index}: {target!r} is not a custom tool use")
        if target in answered:
            raise InvalidRequest(f"events.{index}: {target!r} was already answered")


def _target(event: BaseModel) -> str | None:
    if isinstance(event, UserToolConfirmation):
        return event.tool_use_id
    if isinstance(event, UserCustomToolResult):
        return event.custom_tool_use_id
    return None


async def take_in(db: AsyncSession, session_id: str, events: list[BaseModel], *, at_budget: bool = False) -> Intake:
    """Check answers and build the rows and the workflow delivery, in request order (caller holds the lock).

    At the budget a ``user.interrupt`` is accepted and ignored: echoed, never stored (API_CONTRACT.md §5.3).
    """
    await _check_answers(db, session_id, events)
    intake = Intake()
    for event in events:
        stored = NewEvent(new_id("sevt"), str(getattr(event, "type", "")), event_body(event))
        intake.ordered.append(stored)
        if at_budget and stored.type == "user.interrupt":
            intake.ignored.append(stored)
            continue
        if isinstance(event, UserCustomToolResult):
            # Processed on receipt (API_CONTRACT.md §5.2): visible at once, with processed_at set.
            intake.processed_now.append(stored)
            intake.delivery.answers.append(Answer(event_id=stored.id, tool_use_id=event.custom_tool_use_id, allow=True))
            continue
        intake.queued.append(stored)
        if isinstance(event, UserToolConfirmation):
            answer = Answer(event_id=stored.id, tool_use_id=event.tool_use_id, allow=event.result == "allow")
            intake.delivery.answers.append(answer)
        elif stored.type == "user.interrupt":
            intake.delivery.interrupt_ids.append(stored.id)
        else:
            intake.delivery.message_ids.append(stored.id)
    return intake
