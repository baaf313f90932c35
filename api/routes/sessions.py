"""Sessions: create, retrieve, list, update, archive, delete (API_CONTRACT.md §2.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api import session_control, unsupported
from api.deps import StateDep
from api.errors import InvalidRequest, NotFound
from api.event_intake import check_sizes
from api.model_rules import check_budget_change, check_budgeted_models, check_model
from api.query import MAX_INT32, decode_cursor, encode_cursor, multi, page_limit, time_filters
from api.session_resolve import resolve_agent_snapshot, resolve_environment
from dma.bus import BusMessage
from dma.catalog.catalog import ModelCatalog
from dma.ids import is_id, new_id
from dma.schemas.agents import apply_overrides
from dma.schemas.events import event_body
from dma.schemas.sessions import (
    AgentWithOverrides,
    SessionCreate,
    SessionDeleted,
    SessionOut,
    SessionPage,
    SessionUpdate,
    merge_metadata,
    session_response,
)
from dma.store import events as log
from dma.store import sessions as store
from dma.store.events import NewEvent
from dma.store.tables import Session
from dma.store.vaults import check_session_vaults
from workflows.contracts import Delivery

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

SESSION_STATUSES = ("rescheduling", "running", "idle", "terminated")


async def load_session(state: StateDep, session_id: str) -> Session:
    """The session, or 404."""
    if not is_id(session_id, "sesn"):
        raise NotFound("session", session_id)
    async with state.db.read() as db:
        row = await store.get(db, session_id)
    if row is None:
        raise NotFound("session", session_id)
    return row


@router.post("", response_model=SessionOut)
async def create_session(body: SessionCreate, state: StateDep) -> dict[str, Any]:
    """Create a session from an agent (optionally with overrides) and an environment."""
    if isinstance(body.agent, AgentWithOverrides):
        unsupported.refuse(body.agent.overrides(), unsupported.AGENT, prefix="agent.")
    if body.resources:
        raise InvalidRequest("session resources are not supported by this server yet")
    initial = body.initial_events or []
    if any(event.type != "user.message" for event in initial):
        raise InvalidRequest("initial_events: user.define_outcome is not supported by this server yet")
    check_sizes(initial, state.settings)
    async with state.db.write() as db:
        agent_id, agent_version, snapshot = await resolve_agent_snapshot(db, body.agent)
        check_model(state.catalog, snapshot)
        if body.budget is not None:
            check_budgeted_models(state.catalog, snapshot)
        environment = await resolve_environment(db, body.environment_id)
        vault_ids = await check_session_vaults(db, body.vault_ids or [])
        new = store.NewSession(
            title=body.title,
            meta=dict(body.metadata or {}),
            budget=body.budget.model_dump(mode="json") if body.budget else None,
            running=bool(initial),
            vault_ids=vault_ids,
        )
        row = await store.insert(db, store.new_row(agent_id, agent_version, snapshot, environment, new))
        queued = [NewEvent(new_id("sevt"), event.type, event_body(event)) for event in initial]
        await log.insert_user_events(db, row.id, queued)
    if queued:
        # If Temporal does not take it now, the events stay queued and the reconciler delivers them.
        delivery = Delivery(message_ids=[event.id for event in queued if event.type == "user.message"])
        await session_control.deliver(state.temporal, state.settings, row, delivery)
    return session_response(row)


@router.get("/{session_id}", response_model=SessionOut)
async def retrieve_session(session_id: str, state: StateDep) -> dict[str, Any]:
    """Retrieve a session."""
    return session_response(await load_session(state, session_id))


@router.get("", response_model=SessionPage)
async def list_sessions(
    request: Request,
    state: StateDep,
    agent_id: str | None = None,
    agent_version: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
    include_archived: bool = False,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page: str | None = None,
    memory_store_id: str | None = None,
    deployment_id: str | None = None,
) -> dict[str, Any]:
    """List sessions, newest first by default."""
    statuses = tuple(multi(request, "statuses"))
    for status in statuses:
        if status not in SESSION_STATUSES:
            raise InvalidRequest(f"statuses[] must be one of {', '.join(SESSION_STATUSES)}, got {status[:32]!r}")
    limit = page_limit(request, default=20, maximum=1000)
    filters = store.SessionFilter(
        agent_id=agent_id,
        agent_version=agent_version,
        statuses=statuses,
        include_archived=include_archived,
        created=tuple(time_filters(request).items()),
        deployment_id=deployment_id,
    )
    cursor = decode_cursor(page) if page else None
    descending = order == "desc"
    if cursor is not None and cursor.get("back"):
        descending = not descending
    after = _cursor_position(cursor)
    if memory_store_id is not None:
        return {"data": [], "next_page": None, "prev_page": None}
    async with state.db.read() as db:
        rows = await store.page(db, filters, limit + 1, descending, after)
    more = len(rows) > limit
    rows = rows[:limit]
    backwards = bool(cursor and cursor.get("back"))
    if backwards:
        rows.reverse()
    data = [session_response(row) for row in rows]
    next_page = _cursor(rows[-1], back=False) if rows and (more or backwards) else None
    prev_page = _cursor(rows[0], back=True) if rows and (cursor is not None and (not backwards or more)) else None
    return {"data": data, "next_page": next_page, "prev_page": prev_page}


def _cursor(row: Session, back: bool) -> str:
    return encode_cursor({"t": row.created_at.isoformat(), "i": row.id, "back": back})


def _cursor_position(cursor: dict[str, Any] | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return (datetime.fromisoformat(str(cursor["t"])), str(cursor["i"]))
    except (KeyError, ValueError):
        raise InvalidRequest("page is not a cursor this server issued") from None


@router.post("/{session_id}", response_model=SessionOut)
async def update_session(session_id: str, body: SessionUpdate, state: StateDep) -> dict[str, Any]:
    """Update a session's title, metadata or budget."""
    await load_session(state, session_id)
    sent = body.model_fields_set
    if body.agent is not None:
        unsupported.refuse(body.agent.model_dump(mode="json", exclude_unset=True), unsupported.AGENT, prefix="agent.")
    if "vault_ids" in sent:
        # API_CONTRACT.md §5.10 and the SDK: vault_ids are fixed at creation; the update field is reserved.
        raise InvalidRequest("vault_ids cannot be changed after a session is created")
    async with state.db.write() as db:
        row = await log.lock_session(db, session_id)
        if row is None:
            raise NotFound("session", session_id)
        if row.archived_at is not None:
            raise InvalidRequest("the session is archived and cannot be changed")
        changes, changed = _session_changes(state.catalog, row, body, sent)
        if "agent" in sent and body.agent is not None:
            if row.status != "idle" or await store.has_queued_events(db, session_id):
                raise InvalidRequest("a session's agent can only be changed while the session is idle")
            agent = apply_overrides(row.agent, {k: getattr(body.agent, k) for k in body.agent.model_fields_set})
            if agent != row.agent:
                changes["agent"] = changed["agent"] = agent
        event = NewEvent(new_id("sevt"), "session.updated", changed) if changed else None
        await store.apply_update(db, row, changes, event)
    if event is not None:
        state.bus.publish(BusMessage(session_id, "doorbell"))
    if "budget" in sent and row.event_seq > 0:
        # Work paused at the budget goes on (API_CONTRACT.md §5.8): the new cap is above the cost spent, and the next
        # model request reads it from the DB. Sent even when nothing changed, so a retried update (this one answered
        # 503 after its commit) still wakes the workflow; a session that is not paused ignores it.
        await session_control.deliver(state.temporal, state.settings, row, Delivery(budget_changed=True))
    return session_response(row)


def _session_changes(
    catalog: ModelCatalog, row: Session, body: SessionUpdate, sent: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column changes and the ``session.updated`` payload (only fields whose value changed)."""
    changes: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    if "title" in sent and body.title != row.title:
        changes["title"] = changed["title"] = body.title
    if "metadata" in sent and body.metadata is not None:
        merged = merge_metadata(row.meta or {}, body.metadata)
        if len(merged) > 16:
            raise InvalidRequest("metadata may hold at most 16 pairs", error_code="invalid_metadata")
        if merged != (row.meta or {}):
            changes["meta"] = changed["metadata"] = merged
    if "budget" in sent:
        new_budget = body.budget.model_dump(mode="json") if body.budget else None
        check_budget_change(catalog, row, new_budget)
        if new_budget != row.budget:
            changes["budget"] = changed["budget"] = new_budget
    return changes, changed


async def _lock_idle(db: AsyncSession, session_id: str, action: str) -> Session:
    """The session locked for this transaction, or 4xx when it is gone or has a turn running or about to run.

    The check and the caller's write share this transaction and row lock, so an event posted in between (the POST
    takes the same lock) either lands first and refuses the delete/archive, or finds the session gone/archived.
    """
    row = await log.lock_session(db, session_id)
    if row is None:
        raise NotFound("session", session_id)
    if row.archived_at is None and (
        row.status in ("running", "rescheduling") or await store.has_queued_events(db, session_id)
    ):
        raise InvalidRequest(f"a running session cannot be {action}; interrupt it or wait until it is idle")
    return row


@router.post("/{session_id}/archive", response_model=SessionOut)
async def archive_session(session_id: str, state: StateDep) -> dict[str, Any]:
    """Archive an idle session: it keeps its history and accepts no new events."""
    await load_session(state, session_id)
    async with state.db.write() as db:
        row = await _lock_idle(db, session_id, "archived")
        if row.archived_at is not None:
            return session_response(row)
        await store.archive(db, row, NewEvent(new_id("sevt"), "session.status_terminated", {}))
    state.bus.publish(BusMessage(session_id, "doorbell"))
    await session_control.shut_down(state.temporal, session_id, "archived")
    await session_control.remove_wakeups(state, session_id, deleted=False)
    return session_response(row)


@router.delete("/{session_id}", response_model=SessionDeleted)
async def delete_session(session_id: str, state: StateDep) -> dict[str, Any]:
    """Delete a session that is not running, with its event log."""
    await load_session(state, session_id)
    async with state.db.write() as db:
        await _lock_idle(db, session_id, "deleted")
        await store.remove(db, session_id)
    deleted_event = {"id": new_id("sevt"), "type": "session.deleted", "processed_at": None}
    state.bus.publish(BusMessage(session_id, "deleted", deleted_event))
    await session_control.shut_down(state.temporal, session_id, "deleted")
    await session_control.remove_wakeups(state, session_id, deleted=True)
    return {"id": session_id, "type": "session_deleted"}
