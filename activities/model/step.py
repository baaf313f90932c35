"""The ``model_step`` activity: one model request, from the event log to persisted events.

Exactly-once effects under retries: every event id derives from (session, step, slot), the request's content events
and its ``span.model_request_end`` commit in one transaction, and an attempt that finds that span already recorded
replays the recorded reply instead of calling the model again.

Before the request: the attempt number picks the model of the chain (``failover.py``), the budget is checked
(``budget.py``; at the cap the turn pauses), and a context that would not fit the window is compacted first
(``compaction.py``). The provider behind the route (``providers.py``) speaks its own protocol.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import (
    EventWriter,
    Locked,
    Step,
    add_usage,
    error_event,
    start_running,
    status_event,
    stop_running,
    turn_end_events,
)
from activities.heartbeat import heartbeating
from activities.mcp.catalog import McpCatalog, McpTools
from activities.mcp.tool_use import mcp_tool_use
from activities.model.budget import charge, over_budget
from activities.model.compaction import CompactionTooSmall, compact, input_budget, needs_compaction, request_tokens
from activities.model.context import TOOL_USE_TYPES, build_tools, tool_kind
from activities.model.deltas import DeltaPublisher
from activities.model.errors import ProviderFailure, classify
from activities.model.failover import Attempt, Decision
from activities.model.history import COMPACTED, History
from activities.model.history_cache import HistoryCache
from activities.model.providers import ModelClients
from activities.model.request import ModelRequest, Provider, build_request
from activities.model.result import ModelResult
from activities.model.session_context import (
    FileRefs,
    OutsideReads,
    SessionContext,
    locked_context,
    session_context,
)
from activities.permissions import evaluate_builtin
from activities.reconcile import ZERO_USAGE, close_dead_turn, superseded
from dma.bus import INTERRUPT_KINDS, Bus
from dma.catalog.catalog import ModelCatalog, Route, UnknownModel
from dma.clock import utcnow
from dma.storage import BlobStore
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session, SessionEvent
from workflows.contracts import INTERRUPTED_ON_BUS, ModelStepReply, ModelStepRequest, ToolUseRef
from workflows.declarations import MODEL_STEP

PREVIEW_CHARS = 80
# The input field that best says what a call does, for the one-line preview the Temporal UI shows.
_PREVIEW_FIELDS = ("command", "file_path", "path", "pattern", "url", "query")


# Model requests run for seconds to minutes and learn of interrupts over the bus; heartbeats are for liveness (the
# timeout is 5 s) and carry Temporal's cancellation if a bus message is lost. Fewer of them is CPU: with 100 requests
# in flight, beating every 0.4 s cost 28 % of the CPU per turn (docs/performance.md).
MODEL_HEARTBEAT_SECONDS = 2.0


class SessionGone(Exception):
    """The session was deleted while a turn ran."""


class InterruptedOnBus(Exception):
    """A ``user.interrupt`` of the session arrived on the bus while its model request ran."""


def _span_end(
    step: Step,
    attempt: int,
    usage: dict[str, Any],
    is_error: bool,
    extra: dict[str, Any] | None = None,
    route: Route | None = None,
    cost: dict[str, str] | None = None,
) -> NewEvent:
    body: dict[str, Any] = {"model_request_start_id": step.event_id(f"span@{attempt}"), "is_error": is_error}
    body["model_usage"] = usage
    body.update(_model_fields(route, cost))
    return step.event(f"span_end@{attempt}", "span.model_request_end", body, extra)


def _model_fields(route: Route | None, cost: dict[str, str] | None = None) -> dict[str, Any]:
    """Beyond the SDK's fields (its models keep extra ones): which model a span called, and what it cost."""
    fields: dict[str, Any] = {} if route is None else {"model": route.model_id}
    if cost is not None:
        fields["list_cost"] = cost
    return fields


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
    done = next(
        (
            row
            for row in rows
            if row.type == "span.model_request_end"
            and not row.body.get("is_error")
            and not (row.extra or {}).get("compaction")
        ),
        None,
    )
    if done is None:
        return None
    uses = [
        ToolUseRef(
            event_id=row.id,
            name=row.body.get("name", ""),
            kind=TOOL_USE_TYPES[row.type],  # pyright: ignore[reportArgumentType] - values are ToolKind literals
            permission=row.body.get("evaluated_permission"),
            preview=preview(row.body.get("input")),
            mcp_server_name=row.body.get("mcp_server_name"),
        )
        for row in rows
        if row.type in TOOL_USE_TYPES
    ]
    stop_reason = str((done.extra or {}).get("stop_reason", "end_turn"))
    return ModelStepReply(
        stop_reason=stop_reason, tool_uses=uses, finished=any(r.type == "session.status_idle" for r in rows)
    )


def _superseded() -> ApplicationError:
    """What a step of a run that another run took over raises: it records nothing, and nobody waits for it."""
    message = "another run of the session's workflow took the session over"
    return ApplicationError(message, type="run_superseded", non_retryable=True)


def _held(locked: Locked | None, step: Step, *, takes_over: bool) -> tuple[AsyncSession, Session]:
    """The locked session a step may write to.

    Raises:
        SessionGone: it was deleted.
        ApplicationError: another run took it over (``superseded``), and the step does not start a turn.
    """
    if locked is None:
        raise SessionGone(step.session_id)
    if not takes_over and superseded(locked.session, step):
        raise _superseded()
    return locked.db, locked.session


def _next_attempt(rows: list[SessionEvent]) -> int:
    """The attempt after the last one this step recorded (1 if none).

    Event ids name their attempt (``span@N``). A local activity whose worker died runs again from attempt 1, so the
    attempt number Temporal gives cannot tell a new attempt from a dead one: the log can.
    """
    numbers = [int((row.extra or {}).get("attempt", 0)) for row in rows if row.type == "span.model_request_start"]
    return max(numbers, default=0) + 1


class _ReadOutside:
    """``_begin`` wrote nothing: the session's context is to be read outside the lock (``OutsideReads``)."""


_READ_OUTSIDE = _ReadOutside()


@dataclass
class _Prepared:
    """What ``_begin`` read and decided: the request to send, or the problem that stops it before it is sent."""

    agent: dict[str, Any]
    history: History
    attempt: Attempt | None = None
    request: ModelRequest | None = None
    span_open: bool = False
    problem: ProviderFailure | None = None


class ModelActivities:
    """Model-request activities; the worker builds one instance with its DB, bus, catalog and provider clients."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        clients: ModelClients,
        catalog: ModelCatalog,
        max_tokens: int,
        mcp: McpCatalog | None = None,
        storage: BlobStore | None = None,
    ) -> None:
        self._db = db
        self._storage = storage
        self._writer = EventWriter(db, bus)
        self._bus = bus
        self._clients = clients
        self._catalog = catalog
        self._max_tokens = max_tokens
        self._mcp = mcp
        # Per-worker caches of what earlier steps read, so a step reads only what is new (docs/performance.md).
        self._history = HistoryCache()
        self._file_refs = FileRefs()
        self._outside = OutsideReads()

    @MODEL_STEP.implement
    async def model_step(self, request: ModelStepRequest) -> ModelStepReply:
        """Run one model request for the session and record what it produced."""
        info = activity.info()
        if info.is_local:
            # The workflow runs it as a local activity (``ActivityDef.start_local``), which has no heartbeat: the SDK
            # keeps its workflow task alive, and Temporal's cancellation arrives with that task's next heartbeat.
            return await self._model_step(request, info.attempt)
        # Heartbeat through the DB writes too: a write waiting on a busy database must not look like a dead worker.
        # Rarely: an interrupt comes over the bus (``_stream``), so heartbeats are for liveness and a lost bus message.
        async with heartbeating(MODEL_HEARTBEAT_SECONDS):
            return await self._model_step(request, info.attempt)

    async def _model_step(self, request: ModelStepRequest, attempt: int) -> ModelStepReply:
        step = Step.current(request.session_id, request.step)
        try:
            prepared = await self._prepare(request, step, attempt)
        except SessionGone:
            raise ApplicationError("session was deleted", type="session_gone", non_retryable=True) from None
        if isinstance(prepared, ModelStepReply):
            return prepared
        plan, model_request = prepared.attempt, prepared.request
        if prepared.problem is not None or plan is None or model_request is None:
            problem = prepared.problem or ProviderFailure("unknown_error", "model request could not be built", False)
            raise await self._fail(step, plan, problem, span_open=False, called=False)
        attempt = plan.number  # ``_begin`` may have moved past the attempts an earlier worker recorded
        # MCP tool lists may need the network: fetched outside the transaction of ``_begin``.
        mcp = await self._mcp_tools(step, attempt, prepared.agent, model_request)
        if mcp.definitions():
            model_request = replace(model_request, tools=model_request.tools + mcp.definitions())
        publisher = DeltaPublisher(self._bus, step.session_id, step.event_id("message"), step.event_id("thinking"))
        span_open = prepared.span_open
        try:
            provider = self._clients.for_route(plan.route)
            if not span_open:
                model_request = await self._compact(step, plan, provider, model_request, prepared.history)
                span_open = True
            result = await self._stream(step.session_id, provider, model_request, publisher)
        except InterruptedOnBus:
            # The workflow already has the interrupt (the API sends it on the bus only after the signal): it ends the
            # turn on this reply, as it would on a cancellation, without waiting for the next heartbeat to carry one.
            await self._close_span(step, attempt, plan.route)
            return ModelStepReply(stop_reason=INTERRUPTED_ON_BUS)
        except asyncio.CancelledError:
            if span_open:
                await asyncio.shield(self._close_span(step, attempt, plan.route))
            raise
        except CompactionTooSmall as err:
            failure = ProviderFailure("compaction_limit_reached_error", f"context compaction failed: {err}", False)
            raise await self._fail(step, plan, failure, span_open, called=True) from err
        except Exception as err:  # noqa: BLE001 - every provider failure is classified, none is swallowed
            raise await self._fail(step, plan, classify(err), span_open, called=True) from err
        publisher.flush()
        return await self._record_success(step, plan, prepared.agent, result, mcp)

    async def _stream(
        self, session_id: str, provider: Provider, request: ModelRequest, publisher: DeltaPublisher
    ) -> ModelResult:
        """The provider's reply, unless a ``user.interrupt`` of the session arrives on the bus first.

        Raises:
            InterruptedOnBus: the interrupt came first; the provider's request is cancelled (its stream closed).
        """
        with self._bus.subscribe(session_id, INTERRUPT_KINDS) as watch:
            reply = asyncio.ensure_future(provider.stream(request, publisher))
            rang = asyncio.ensure_future(watch.rang.wait())
            try:
                await asyncio.wait((reply, rang), return_when=asyncio.FIRST_COMPLETED)
            finally:
                rang.cancel()
                if not reply.done():
                    reply.cancel()
                    with suppress(asyncio.CancelledError):
                        await reply
        if reply.cancelled() and watch.rang.is_set():
            raise InterruptedOnBus
        return reply.result()

    async def _prepare(self, request: ModelStepRequest, step: Step, attempt: int) -> ModelStepReply | _Prepared:
        """``_begin``, with the session's context read in its transaction, or before it (``OutsideReads``)."""
        sid = step.session_id
        context = await session_context(self._db, self._storage, sid, self._file_refs) if sid in self._outside else None
        prepared = await self._begin(request, step, attempt, context)
        if isinstance(prepared, _ReadOutside):  # found out in the transaction, which wrote nothing
            self._outside.add(sid)
            context = await session_context(self._db, self._storage, sid, self._file_refs)
            prepared = await self._begin(request, step, attempt, context)
        assert not isinstance(prepared, _ReadOutside)  # given a context, ``_begin`` reads none
        return prepared

    async def _begin(
        self, request: ModelStepRequest, step: Step, attempt: int, context: SessionContext | None
    ) -> ModelStepReply | _Prepared | _ReadOutside:
        """One transaction: replay check, start the turn, close dead spans, check the budget, read the context.

        This attempt's span opens here too, unless the context must be compacted first. Without ``context`` it is
        read here, in the same transaction, unless it belongs outside the lock (``OutsideReads``): then nothing is
        written, and ``_READ_OUTSIDE`` says to read it (``session_context``) and call again.
        """
        sid = step.session_id
        async with self._writer.locked(sid) as locked:
            # A turn's first step takes the session over (``start_running``); a later one only goes on in its run.
            db, session = _held(locked, step, takes_over=bool(request.mark_processed))
            rows = await log.step_events(db, sid, step.run, step.number)
            if (recorded := _replay(rows)) is not None:
                return await _with_unseen(db, sid, recorded, request.mark_processed)
            attempt = max(attempt, _next_attempt(rows))
            if context is None and (context := await locked_context(db, session, self._file_refs)) is None:
                return _READ_OUTSIDE
            now = utcnow()
            if request.mark_processed and not rows:
                # A turn starts: one that another run left running (an operator's reset) is over, and that run
                # writes nothing more (``superseded``), even if this turn turns out stale.
                await close_dead_turn(db, session, step)
                session.turn_run = step.run
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
            elif request.mark_processed or (request.resume and session.status == "idle"):
                new.append(status_event(step, "running", "session.status_running"))
            new.extend(self._dangling_span_ends(rows, step))
            agent = {**session.agent, "system": context.system}
            prepared = _Prepared(agent, replace(await self._history.load(db, session), files=context.files))
            self._plan(prepared, request, attempt)
            plan = prepared.attempt
            if prepared.problem is None and plan is not None and over_budget(session, plan.route):
                new.extend(turn_end_events(session, step, {"type": "budget_reached"}, slot="budget:"))
                stop_running(session, now)  # before the append, so the row's changes go out in one UPDATE
                await log.append(db, session, new, now, fresh_ids=not rows)
                return ModelStepReply(stop_reason="budget_reached", paused=True)
            if prepared.problem is None and plan is not None and prepared.request is not None:
                prepared.span_open = not needs_compaction(plan.route, prepared.request)
            if prepared.span_open and plan is not None:
                new.append(self._span_start(step, attempt, plan.route))
            # No event of this step existed when the transaction read them (``rows``): these ids are all new.
            start_running(session, now, step.run)  # before the append, so the row's changes go out in one UPDATE
            await log.append(db, session, new, now, fresh_ids=not rows)
        return prepared

    async def _mcp_tools(self, step: Step, attempt: int, agent: dict[str, Any], request: ModelRequest) -> McpTools:
        if self._mcp is None:
            return McpTools()
        return await self._mcp.for_step(step, attempt, agent, {str(tool["name"]) for tool in request.tools})

    def _plan(self, prepared: _Prepared, request: ModelStepRequest, attempt: int) -> None:
        """Route the agent's model (and its fallbacks) and build the request this attempt sends."""
        model_id = str(prepared.agent.get("model", {}).get("id", ""))
        try:
            routes = self._catalog.chain(model_id)
        except UnknownModel as err:
            prepared.problem = ProviderFailure("model_request_failed_error", err.message, False)
            return
        plan = Attempt(routes, max(1, request.max_attempts), attempt)
        prepared.attempt = plan
        if plan.overdue:
            message = "retries exhausted: the last attempts of this model request ended without an answer"
            prepared.problem = ProviderFailure("model_request_failed_error", message, False)
            return
        tools = build_tools(prepared.agent)
        messages = prepared.history.messages()
        prepared.request = build_request(plan.route, prepared.agent, messages, tools, self._max_tokens)

    @staticmethod
    def _span_start(step: Step, attempt: int, route: Route) -> NewEvent:
        return step.event(f"span@{attempt}", "span.model_request_start", _model_fields(route), {"attempt": attempt})

    async def _compact(
        self, step: Step, plan: Attempt, provider: Provider, request: ModelRequest, history: History
    ) -> ModelRequest:
        """Summarize the older context and record it, with a span per summary request; then open this attempt's span.

        Returns:
            The request rebuilt from the summary and the part of the log kept verbatim.
        """
        route, attempt = plan.route, plan.number
        done = await compact(provider, route, request, history)
        rebuilt = replace(request, messages=History(done.kept, done.summary, history.files).messages())
        async with self._writer.locked(step.session_id) as locked:
            db, session = _held(locked, step, takes_over=False)
            new: list[NewEvent] = []
            for index, usage in enumerate(done.usages):
                slot = f"compact@{attempt}.{index}"
                wire_usage = usage.as_wire()
                add_usage(session, wire_usage)
                cost = charge(session, route, wire_usage)
                new.append(step.event(slot, "span.model_request_start", _model_fields(route), {"compaction": True}))
                body = {"model_request_start_id": step.event_id(slot), "is_error": False, "model_usage": wire_usage}
                extra = {"compaction": True}
                body.update(_model_fields(route, cost))
                new.append(step.event(f"{slot}:end", "span.model_request_end", body, extra))
            compacted = {"summary": done.summary, "from_seq": done.from_seq, "model": route.model_id}
            new.append(step.event(f"compacted@{attempt}", COMPACTED, {}, compacted))
            new.append(self._span_start(step, attempt, route))
            await log.append(db, session, new)
        budget = input_budget(route, rebuilt) or 0
        if request_tokens(rebuilt) > budget:
            raise CompactionTooSmall(f"the recent part alone exceeds the {route.spec.context_window}-token window")
        return rebuilt

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

    async def _fail(
        self, step: Step, plan: Attempt | None, failure: ProviderFailure, span_open: bool, called: bool
    ) -> ApplicationError:
        """Record a failed attempt (its span, and a retry or failover notice) and return what to raise."""
        decision = plan.after(failure) if plan is not None else Decision(False, failure.message)
        attempt = plan.number if plan is not None else 0
        route = plan.route if plan is not None else None
        new: list[NewEvent] = []
        if called and not span_open and route is not None:
            # A summary request of a compaction failed: its attempt still shows as one failed model request.
            new.append(self._span_start(step, attempt, route))
        if called or span_open:
            new.append(_span_end(step, attempt, dict(ZERO_USAGE), True, route=route))
        if decision.retrying:
            new.append(error_event(step, f"error@{attempt}", failure.error_type, decision.message, "retrying"))
            new.append(status_event(step, f"rescheduled@{attempt}", "session.status_rescheduled"))
        async with self._writer.locked(step.session_id) as locked:
            if locked is not None and superseded(locked.session, step):
                return _superseded()
            if locked is not None:
                if decision.retrying:
                    locked.session.status = "rescheduling"
                await log.append(locked.db, locked.session, new)
        return ApplicationError(
            failure.message,
            type=failure.error_type,
            non_retryable=not decision.retrying,
            next_retry_delay=decision.delay,
        )

    async def _close_span(self, step: Step, attempt: int, route: Route) -> None:
        """An interrupted request still ends its span (API_CONTRACT.md §3.3)."""
        span_end = _span_end(step, attempt, dict(ZERO_USAGE), True, route=route)
        async with self._writer.locked(step.session_id) as locked:
            if locked is not None and not superseded(locked.session, step):
                await log.append(locked.db, locked.session, [span_end])

    async def _record_success(
        self, step: Step, plan: Attempt, agent: dict[str, Any], result: ModelResult, mcp: McpTools
    ) -> ModelStepReply:
        new, uses = self._content_events(step, agent, result, mcp)
        usage = result.usage.as_wire()
        finished = not uses
        async with self._writer.locked(step.session_id) as locked:
            if locked is None:
                raise ApplicationError("session was deleted", type="session_gone", non_retryable=True)
            if superseded(locked.session, step):
                raise _superseded()
            add_usage(locked.session, usage)
            cost = charge(locked.session, plan.route, usage)
            extra = {"stop_reason": result.stop_reason}
            new.append(_span_end(step, plan.number, usage, False, extra, plan.route, cost))
            if finished:
                new.extend(turn_end_events(locked.session, step, _stop_reason(result.stop_reason)))
                stop_running(locked.session, utcnow())
            await log.append(locked.db, locked.session, new)
        return ModelStepReply(stop_reason=result.stop_reason, tool_uses=uses, finished=finished)

    @staticmethod
    def _content_events(
        step: Step, agent: dict[str, Any], result: ModelResult, mcp: McpTools
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
            if (target := mcp.target(call.name)) is not None:
                event, ref = mcp_tool_use(step, slot, agent, target, call.input, line)
                new.append(event)
                uses.append(ref)
                continue
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


async def _with_unseen(db: AsyncSession, session_id: str, recorded: ModelStepReply, asked: list[str]) -> ModelStepReply:
    """A recorded reply, with the events this request asks to mark that the recorded step never took (still queued).

    One extra query, only when a step is replayed with events to mark (a turn's first step run again).
    """
    if not asked:
        return recorded
    rows = await log.by_ids(db, session_id, asked)
    queued = [rows[event_id] for event_id in asked if event_id in rows and rows[event_id].processed_at is None]
    return recorded.model_copy(
        update={
            "unseen_messages": [row.id for row in queued if row.type != "user.interrupt"],
            "unseen_interrupts": [row.id for row in queued if row.type == "user.interrupt"],
        }
    )


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
