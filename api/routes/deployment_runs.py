"""Deployment runs: list and retrieve (the SDK's ``beta.deployment_runs``); runs are written only by fires."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import StateDep
from api.errors import NotFound
from api.query import time_filters
from api.routes.agents import next_page, page_after
from dma.clock import as_utc
from dma.schemas.deployments import DeploymentRunOut, DeploymentRunPage, TriggerType, run_response
from dma.store import deployments as store

router = APIRouter(prefix="/v1/deployment_runs", tags=["deployment_runs"])
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size, 1-1000.")]


@router.get("", response_model=DeploymentRunPage)
async def list_deployment_runs(
    request: Request,
    state: StateDep,
    deployment_id: str | None = None,
    has_error: bool | None = None,
    limit: Limit = 20,
    page: str | None = None,
    trigger_type: TriggerType | None = None,
) -> dict[str, Any]:
    """List runs, newest first; an unknown ``deployment_id`` lists nothing."""
    created = time_filters(request)
    filters = store.RunFilter(deployment_id, has_error, trigger_type, tuple(created.items()))
    async with state.db.read() as db:
        rows = await store.run_page(db, filters, limit, page_after(page))
    more, rows = len(rows) > limit, rows[:limit]
    position = (as_utc(rows[-1].created_at), rows[-1].id) if more else None
    return {"data": [run_response(row) for row in rows], "next_page": next_page(position)}


@router.get("/{deployment_run_id}", response_model=DeploymentRunOut)
async def retrieve_deployment_run(deployment_run_id: str, state: StateDep) -> dict[str, Any]:
    """Retrieve a run."""
    async with state.db.read() as db:
        row = await store.get_run(db, deployment_run_id)
    if row is None:
        raise NotFound("deployment run", deployment_run_id)
    return run_response(row)
