"""Routes for environments (API_CONTRACT.md §2.0, §2.2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import unsupported
from api.deps import DbDep
from api.query import time_filters
from api.routes.agents import next_page, page_after
from dma.schemas.environments import (
    EnvironmentCreate,
    EnvironmentDeleted,
    EnvironmentOut,
    EnvironmentPage,
    EnvironmentUpdate,
)
from dma.store import environments as store

router = APIRouter(prefix="/v1/environments", tags=["environments"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=EnvironmentOut)
async def create_environment(body: EnvironmentCreate, db: DbDep) -> dict[str, Any]:
    """Create an environment."""
    unsupported.refuse(body.model_dump(mode="json", exclude_unset=True), unsupported.ENVIRONMENT)
    return await store.create_environment(db, body)


@router.get("", response_model=EnvironmentPage)
async def list_environments(
    request: Request, db: DbDep, limit: Limit = 20, include_archived: bool = False, page: str | None = None
) -> dict[str, Any]:
    """List environments, newest first."""
    data, position = await store.list_environments(
        db, limit=limit, include_archived=include_archived, created=time_filters(request), after=page_after(page)
    )
    return {"data": data, "next_page": next_page(position)}


@router.get("/{environment_id}", response_model=EnvironmentOut)
async def retrieve_environment(environment_id: str, db: DbDep) -> dict[str, Any]:
    """Get an environment."""
    return await store.get_environment(db, environment_id)


@router.post("/{environment_id}", response_model=EnvironmentOut)
async def update_environment(environment_id: str, body: EnvironmentUpdate, db: DbDep) -> dict[str, Any]:
    """Update an environment in place."""
    unsupported.refuse(body.model_dump(mode="json", exclude_unset=True), unsupported.ENVIRONMENT)
    return await store.update_environment(db, environment_id, body)


@router.delete("/{environment_id}", response_model=EnvironmentDeleted)
async def delete_environment(environment_id: str, db: DbDep) -> dict[str, str]:
    """Delete an environment."""
    return await store.delete_environment(db, environment_id)


@router.post("/{environment_id}/archive", response_model=EnvironmentOut)
async def archive_environment(environment_id: str, db: DbDep) -> dict[str, Any]:
    """Archive an environment; new sessions can no longer use it."""
    return await store.archive_environment(db, environment_id)
