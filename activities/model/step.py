"""The ``model_step`` activity: one model request, from the event log to persisted events.

Exactly-once effects under retries: every event id derives from (session, step, slot), the request's content events
and its ``span.model_request_end`` commit in one transaction, and an attempt that finds that span already recorded
replays the recorded reply instead of calling the model again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import (
    EventWriter,
    Step,
    add_usage,
    error_event,
    start_running,
    status_event,
    stop_running,
    turn_end_events,
)
from activities.heartbeat import heartbeating
from activities.model.anthropic_stream import stream_messages
from activities.model.context import TOOL_USE_TYPES, build_messages, build_tools, tool_kind
from activities.model.deltas import DeltaPublisher
from activities.model.errors import ProviderFailure, classify
from activities.model.providers import ModelClients
from activities.model.result import ModelResult
from activities.model.session_context import file_sources, referenced_files, system_prompt
from activities.permissions import evaluate_builtin
from activities.reconcile import ZERO_USAGE, close_dead_turn
from dma.bus import Bus
from dma.clock import utcnow
from dma.storage import BlobStore
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import SessionEvent
from workflows.contracts import ModelStepReply, ModelStepRequest, ToolUseRef
from workflows.declarations import MODEL_STEP

PREVIEW_CHARS = 80
# The input field that best says what a call does, for the one-line preview the Temporal UI shows.
_PREVIEW_FIELDS = ("command", "file_path", "path", "pattern", "url", "query")


class SessionGone(Exception):
    """The session was deleted while a turn ran."""


def _span_end(
    step: Step, attempt: int, usage: dict[str, int], is_error: bool, extra: dict[str, Any] | None = None
) -> NewEvent:
    body: dict[str, Any] = {"model_request_start_id": step.event_id(f"span@{attempt}"), "is_error": is_error}
    body["model_usage"] = usage
    return step.event(f"span_end@{attempt}", "span.model_request_end", body, extra)


def preview(tool_input: object) -> str:
    """The first line of what a call does (its command, path or URL), for the Temporal UI; never the whole input."""
    text = ""
    if isinstance(tool_input, dict):
        fields: dict[str, Any] = tool_input  # pyright: ignore[reportUnknownVariableType] - JSON object
        text = next((str(fields[key]) for key in _PREVIEW_FIELDS if isinstance(fields.get(key), str)), "")
        text = text or json.dumps(fields, ensure_ascii=False)
    lines = text.strip().splitlines()
    return lines[0][:PREVIEW_CHARS] if lines else ""


def _replay(rows: list[SessionEvent]) -> ModelStepReply | None:
    """The reply an earlier attempt already recorded for this step, if it got that far."""
    done = next((row for row in rows if row.type == "span.model_request_end" and not row.body.get("is_error")), None)
    if done is None:
        return None
    uses = [
        ToolUseRef(
            event_id=row.id,
            name=row.body.get("name", ""),
            kind=TOOL_USE_TYPES[row.type],  # pyright: ignore[reportArgumentType] - values are ToolKind literals
            permission=row.body.get("evaluated_permission"),
            preview=preview(row.body.get("input")),
        )
        for row in rows
        if row.type in TOOL_USE_TYPES
    ]
    stop_reason = str((done.extra or {}).get("stop_reason", "end_turn"))
    return ModelStepReply(
        stop_reason=stop_reason, tool_uses=uses, finished=any(r.type == "session.status_idle" for r in rows)
    )


class ModelActivities:
    """Model-request activities; the worker builds one instance with its DB, bus and provider clients."""

    def __init__(
        self, db: Database, bus: Bus, clients: ModelClients, max_tokens: int, storage: BlobStore | None = None
    ) -> None:
        self._db = db
        self._storage = storage
        self._writer = EventWriter(db, bus)
        self._bus = bus
        self._clients = clients
        self._max_tokens = max_tokens

    @MODEL_STEP.implement
    async def model_step(self, request: ModelStepRequest) -> ModelStepReply:
        """Run one model request for the session and record what it produced."""
        # Heartbeat through the DB writes too: a write waiting on a busy database must not look like a dead worker.
        async with heartbeating():
            return await self._model_step(request, activity.info().attempt)

    async def _model_step(self, request: ModelStepRequest, attempt: int) -> ModelStepReply:
        step = Step.current(request.session_id, request.step)
        try:
            begun = await self._begin(request, step, attempt)
        except SessionGone:
            raise ApplicationError("session was deleted", type="session_gone", non_retryable=True) from None
        if isinstance(begun, ModelStepReply):
            return begun
        agent, history = begun
        # Outside the session lock: skill and resource rows and file bytes are read without holding up writers.
        async with self._db.read() as db:
            system = await system_prompt(db, step.session_id, agent)
            files = await file_sources(db, self._storage, referenced_files(history))
        model_id = str(agent.get("model", {}).get("id", ""))
        messages = build_messages(history, files)
        params: dict[str, Any] = {"model": model_id, "max_tokens": self._max_tokens, "messages": messages}
        if system:
            params["system"] = system
        if tools := build_tools(agent):
            params["tools"] = tools
        publisher = DeltaPublisher(self._bus, step.session_id, step.event_id("message"), step.event_id("thinking"))
        try:
            result = await stream_messages(self._clients.for_model(model_id), params, publisher)
        except asyncio.CancelledError:
            await asyncio.shield(self._close_span(step, attempt))
            raise
        except Exception as err:  # noqa: BLE001 - every provider failure is classified, none is swallowed
            failure = classify(err)
            await self._record_failure(request, step, attempt, failure)
            raise ApplicationError(
                failure.message,
                type=failure.error_type,
                non_retryable=not failure.retryable,
                next_retry_delay=failure.retry_after,
            ) from err
        publisher.flush()
        return await self._record_success(step, attempt, agent, result)

    async def _begin(
        self, request: ModelStepRequest, step: Step, attempt: int
    ) -> ModelStepReply | tuple[dict[str, Any], list[SessionEvent]]:
        """One transaction: replay check, start the turn, close spans of dead attempts, open this span, read context."""
        sid = step.session_id
        async with self._writer.locked(sid) as locked:
            if locked is None:
                raise SessionGone(sid)
            db, session = locked.db, locked.session
            rows = await log.step_events(db, sid, step.run, step.number)
            if (recorded := _replay(rows)) is not None:
                return recorded
            now = utcnow()
            if request.mark_processed and not rows:
                # A turn starts: one that another run left running (an operator's reset) is over.
                await close_dead_turn(db, session, step)
            marked = await log.mark_processed(db, session, request.mark_processed, now)
            partly_done = len(marked) < len(request.mark_processed)
            if not rows and partly_done and await _stale(db, sid, request.mark_processed, marked):
                return ModelStepReply(stop_reason="end_turn", finished=True, stale=True)
            if not request.mark_processed:
                # After tools: results still hidden (a call cut short) go on the stream before the model reads them.
                await log.publish_all_results(db, session, now)
            new: list[NewEvent] = []
            if session.status == "rescheduling":
                new.append(status_event(step, f"running@{attempt}", "session.status_running"))
            elif request.mark_processed:
                new.append(status_event(step, "running", "session.status_running"))
            new.extend(self._dangling_span_ends(rows, step))
            new.append(step.event(f"span@{attempt}", "span.model_request_start", {}, {"attempt": attempt}))
            await log.append(db, session, new, now)
            start_running(session, now)
            agent = dict(session.agent)
            history = await log.visible_in_order(db, sid)
        return agent, history

    @staticmethod
    def _dangling_span_ends(rows: list[SessionEvent], step: Step) -> list[NewEvent]:
        """Span starts of attempts that died without an end (a killed worker) get an error end now."""
        ended = {row.body.get("model_request_start_id") for row in rows if row.type == "span.model_request_end"}
        ends: list[NewEvent] = []
        for row in rows:
            if row.type == "span.model_request_start" and row.id not in ended:
                dead_attempt = int((row.extra or {}).get("attempt", 0))
                ends.append(_span_end(step, dead_attempt, dict(ZERO_USAGE), True))
        return ends

    async def _record_failure(
        self, request: ModelStepRequest, step: Step, attempt: int, failure: ProviderFailure
    ) -> None:
        retrying = failure.retryable and attempt < request.max_attempts
        new = [_span_end(step, attempt, dict(ZERO_USAGE), True)]
        if retrying:
            new.append(error_event(step, f"error@{attempt}", failure.error_type, failure.message, "retrying"))
            new.append(status_event(step, f"rescheduled@{attempt}", "session.status_rescheduled"))
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                return
            if retrying:
                locked.session.status = "rescheduling"
            await log.append(locked.db, locked.session, new)

    async def _close_span(self, step: Step, attempt: int) -> None:
        """An interrupted request still ends its span (API_CONTRACT.md §3.3)."""
        span_end = _span_end(step, attempt, dict(ZERO_USAGE), True)
        async with self._writer.locked(step.session_id) as locked:
            if locked is not None:
                await log.append(locked.db, locked.session, [span_end])

    async def _record_success(
        self, step: Step, attempt: int, agent: dict[str, Any], result: ModelResult
    ) -> ModelStepReply:
        new, uses = self._content_events(step, agent, result)
        usage = result.usage.as_wire()
        new.append(_span_end(step, attempt, usage, False, {"stop_reason": result.stop_reason}))
        finished = not uses
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                raise ApplicationError("session was deleted", type="session_gone", non_retryable=True)
            add_usage(locked.session, usage)
            if finished:
                new.extend(turn_end_events(locked.session, step, _stop_reason(result.stop_reason)))
                stop_running(locked.session, utcnow())
            await log.append(locked.db, locked.session, new)
        return ModelStepReply(stop_reason=result.stop_reason, tool_uses=uses, finished=finished)

    @staticmethod
    def _content_events(
        step: Step, agent: dict[str, Any], result: ModelResult
    ) -> tuple[list[NewEvent], list[ToolUseRef]]:
        new: list[NewEvent] = []
        if result.thinking_blocks:
            new.append(step.event("thinking", "agent.thinking", {}, {"blocks": result.thinking_blocks}))
        texts = [text for text in result.texts if text]
        if texts:
            content = [{"type": "text", "text": text} for text in texts]
            new.append(step.event("message", "agent.message", {"content": content}))
        uses: list[ToolUseRef] = []
        for index, call in enumerate(result.tool_calls):
            slot = f"tool:{index}"
            body: dict[str, Any] = {"name": call.name, "input": call.input}
            line = preview(call.input)
            if tool_kind(agent, call.name) == "custom":
                new.append(step.event(slot, "agent.custom_tool_use", body))
                uses.append(ToolUseRef(event_id=step.event_id(slot), name=call.name, kind="custom", preview=line))
                continue
            verdict = evaluate_builtin(agent, call.name)
            new.append(step.event(slot, "agent.tool_use", {**body, **verdict.event_fields()}))
            uses.append(
                ToolUseRef(
                    event_id=step.event_id(slot),
                    name=call.name,
                    kind="builtin",
                    permission=verdict.verdict,
                    preview=line,
                )
            )
        return new, uses


async def _stale(db: AsyncSession, session_id: str, starting: list[str], marked: list[str]) -> bool:
    """Whether a turn's messages were all processed before this run got to them (nothing for the model to answer).

    Deliveries are repeated on purpose (a redelivery of queued events; signals re-applied after an operator's reset),
    so a turn whose every ``user.message`` already had its answer starts nothing.
    """
    rows = await log.by_ids(db, session_id, starting)
    messages = [event_id for event_id in starting if (row := rows.get(event_id)) and row.type == "user.message"]
    return not any(event_id in marked for event_id in messages) and (bool(messages) or len(rows) < len(starting))


def _stop_reason(provider_reason: str) -> dict[str, Any]:
    if provider_reason == "refusal":
        return {"type": "refusal"}
    return {"type": "end_turn"}
