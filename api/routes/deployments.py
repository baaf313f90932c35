"""Deployments: create, retrieve, update, list, archive, pause, unpause, run (the SDK's ``beta.deployments``).

The DB row is what clients read; the Temporal Schedule (id = deployment id) fires it and is changed in the same
request, before the row commits (``api.deployment_schedules``). Upcoming and last fire times come from the schedule.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api import deployment_schedules as schedules
from api import session_control
from api.deployment_update import apply_update
from api.deps import StateDep
from api.errors import InvalidRequest, NotFound
from api.query import time_filters
from api.routes.agents import next_page, page_after
from api.session_resolve import resolve_agent_pin, resolve_environment
from dma.clock import as_utc, utcnow
from dma.ids import new_id
from dma.schemas.common import check_metadata
from dma.schemas.deployments import (
    DeploymentCreate,
    DeploymentOut,
    DeploymentPage,
    DeploymentRunOut,
    DeploymentStatus,
    DeploymentUpdate,
    deployment_response,
    initial_event_rows,
    run_response,
    schedule_row,
)
from dma.store import deployments as store
from dma.store import launch as launcher
from dma.store import session_resources as resource_store
from dma.store.tables import Deployment
from dma.store.vaults import check_session_vaults
from workflows.contracts import Delivery
from workflows.schedule_entry import Timing

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


def respond(row: Deployment, timing: Timing | None) -> dict[str, Any]:
    """The deployment object with the schedule's own times."""
    if timing is None:
        return deployment_response(row)
    return deployment_response(row, timing.upcoming, timing.last_run_at)


async def load(state: StateDep, deployment_id: str) -> Deployment:
    """The deployment, or 404."""
    async with state.db.read() as db:
        row = await store.get(db, deployment_id)
    if row is None:
        raise NotFound("deployment", deployment_id)
    return row


@router.post("", response_model=DeploymentOut)
async def create_deployment(body: DeploymentCreate, state: StateDep) -> dict[str, Any]:
    """Create a deployment; with a schedule it fires on its own."""
    events = initial_event_rows(body.initial_events)
    schedule = schedule_row(body.schedule)
    metadata = check_metadata(body.metadata or {})
    async with state.db.write() as db:
        agent_id, version = await resolve_agent_pin(db, body.agent)
        environment = await resolve_environment(db, body.environment_id)
        vault_ids = await check_session_vaults(db, body.vault_ids or [])
        resources = await resource_store.deployment_configs(db, body.resources or [])
        now = utcnow()
        row = Deployment(
            id=new_id("depl"),
            name=body.name,
            description=body.description or None,
            agent_id=agent_id,
            agent_version=version,
            environment_id=environment.id,
            initial_events=events,
            meta=metadata,
            vault_ids=vault_ids,
            resources=resources,
            budget=body.budget.model_dump(mode="json") if body.budget else None,
            schedule=schedule,
            created_at=now,
            updated_at=now,
        )
        db.add(row)
        await db.flush()
        if schedule is not None:
            await schedules.put(state, row)
    return respond(row, await schedules.timing(state, row))


@router.get("/{deployment_id}", response_model=DeploymentOut)
async def retrieve_deployment(deployment_id: str, state: StateDep) -> dict[str, Any]:
    """Retrieve a deployment."""
    row = await load(state, deployment_id)
    return respond(row, await schedules.timing(state, row))


@router.get("", response_model=DeploymentPage)
async def list_deployments(
    request: Request,
    state: StateDep,
    agent_id: str | None = None,
    include_archived: bool = False,
    limit: Limit = 20,
    page: str | None = None,
    status: DeploymentStatus | None = None,
) -> dict[str, Any]:
    """List deployments, newest first."""
    if status is not None and include_archived:
        raise InvalidRequest("status and include_archived cannot be combined")
    created = time_filters(request)
    filters = store.DeploymentFilter(agent_id, status, include_archived, tuple(created.items()))
    async with state.db.read() as db:
        rows = await store.page(db, filters, limit, page_after(page))
    more, rows = len(rows) > limit, rows[:limit]
    timings = await schedules.timings(state, rows)
    data = [respond(row, timing) for row, timing in zip(rows, timings, strict=True)]
    return {"data": data, "next_page": next_page((as_utc(rows[-1].created_at), rows[-1].id) if more else None)}


@router.post("/{deployment_id}", response_model=DeploymentOut)
async def update_deployment(deployment_id: str, body: DeploymentUpdate, state: StateDep) -> dict[str, Any]:
    """Update a deployment: sent fields replace (metadata merges per key), omitted ones stay."""
    body.check_not_cleared()
    await load(state, deployment_id)
    async with state.db.write() as db:
        row = await store.lock(db, deployment_id)
        if row is None:
            raise NotFound("deployment", deployment_id)
        if row.archived_at is not None:
            raise InvalidRequest("the deployment is archived and cannot be changed")
        await apply_update(state, db, row, body)
    return respond(row, await schedules.timing(state, row))


async def _locked_live(db: AsyncSession, deployment_id: str, action: str) -> Deployment:
    row = await store.lock(db, deployment_id)
    if row is None:
        raise NotFound("deployment", deployment_id)
    if row.archived_at is not None:
        raise InvalidRequest(f"the deployment is archived and cannot be {action}")
    return row


@router.post("/{deployment_id}/archive", response_model=DeploymentOut)
async def archive_deployment(deployment_id: str, state: StateDep) -> dict[str, Any]:
    """Archive a deployment: its schedule is deleted, the record and its runs are kept."""
    await load(state, deployment_id)
    async with state.db.write() as db:
        row = await store.lock(db, deployment_id)
        if row is None:
            raise NotFound("deployment", deployment_id)
        if row.archived_at is None:
            if row.schedule is not None:
                await schedules.remove(state, row)
            row.archived_at = row.updated_at = utcnow()
            row.status, row.paused_reason = "active", None
            db.add(row)
    return respond(row, None)


@router.post("/{deployment_id}/pause", response_model=DeploymentOut)
async def pause_deployment(deployment_id: str, state: StateDep) -> dict[str, Any]:
    """Pause a deployment: its schedule stops firing until it is unpaused."""
    await load(state, deployment_id)
    async with state.db.write() as db:
        row = await _locked_live(db, deployment_id, "paused")
        if row.status != "paused" or (row.paused_reason or {}).get("type") != "manual":
            row.status, row.paused_reason = "paused", {"type": "manual"}
            row.updated_at = utcnow()
            await schedules.set_paused(state, row)
            db.add(row)
    return respond(row, await schedules.timing(state, row))


@router.post("/{deployment_id}/unpause", response_model=DeploymentOut)
async def unpause_deployment(deployment_id: str, state: StateDep) -> dict[str, Any]:
    """Unpause a deployment: its schedule fires again."""
    await load(state, deployment_id)
    async with state.db.write() as db:
        row = await _locked_live(db, deployment_id, "unpaused")
        if row.status == "paused":
            row.status, row.paused_reason = "active", None
            row.updated_at = utcnow()
            await schedules.set_paused(state, row)
            db.add(row)
    return respond(row, await schedules.timing(state, row))


@router.post("/{deployment_id}/run", response_model=DeploymentRunOut)
async def run_deployment(deployment_id: str, state: StateDep) -> dict[str, Any]:
    """Fire the deployment now: a session with its initial events, or a run recording why none could be made."""
    await load(state, deployment_id)
    async with state.db.write() as db:
        row = await _locked_live(db, deployment_id, "run")
        launched = await launcher.launch(db, row, "manual")
    if launched.session is not None and launched.message_ids:
        # As for sessions.create: a delivery Temporal does not take now is made good by the reconciler.
        delivery = Delivery(message_ids=launched.message_ids)
        await session_control.deliver(state.temporal, state.settings, launched.session, delivery)
    return run_response(launched.run)
