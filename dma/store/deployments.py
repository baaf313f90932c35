"""Deployment and deployment-run rows: read, lock, page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.ids import is_id
from dma.store.keyset import Position, page_query
from dma.store.tables import Deployment, DeploymentRun


@dataclass(frozen=True)
class DeploymentFilter:
    """The filters of ``GET /v1/deployments``."""

    agent_id: str | None = None
    status: str | None = None
    include_archived: bool = False
    created: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class RunFilter:
    """The filters of ``GET /v1/deployment_runs``."""

    deployment_id: str | None = None
    has_error: bool | None = None
    trigger_type: str | None = None
    created: tuple[tuple[str, datetime], ...] = ()


async def get(db: AsyncSession, deployment_id: str) -> Deployment | None:
    """A deployment by id (None for an id that cannot be one)."""
    return await db.get(Deployment, deployment_id) if is_id(deployment_id, "depl") else None


async def lock(db: AsyncSession, deployment_id: str) -> Deployment | None:
    """The deployment row, locked for the rest of the transaction (serializes updates and fires)."""
    if not is_id(deployment_id, "depl"):
        return None
    statement = select(Deployment).where(Deployment.id == deployment_id).with_for_update()
    return (await db.exec(statement)).first()


async def page(db: AsyncSession, filters: DeploymentFilter, limit: int, after: Position | None) -> list[Deployment]:
    """Up to ``limit + 1`` deployments, newest first, after a keyset position."""
    statement = select(Deployment)
    if filters.agent_id is not None:
        statement = statement.where(Deployment.agent_id == filters.agent_id)
    if filters.status is not None:
        statement = statement.where(Deployment.status == filters.status)
    if not filters.include_archived:
        statement = statement.where(col(Deployment.archived_at).is_(None))
    statement = page_query(
        statement,
        col(Deployment.created_at),
        col(Deployment.id),
        limit=limit,
        created=dict(filters.created),
        after=after,
    )
    return list((await db.exec(statement)).all())


async def get_run(db: AsyncSession, run_id: str) -> DeploymentRun | None:
    """A deployment run by id."""
    return await db.get(DeploymentRun, run_id) if is_id(run_id, "drun") else None


async def scheduled_run(db: AsyncSession, deployment_id: str, scheduled_at: datetime) -> DeploymentRun | None:
    """The run already recorded for this fire of the schedule, if any."""
    statement = select(DeploymentRun).where(
        DeploymentRun.deployment_id == deployment_id, DeploymentRun.scheduled_at == scheduled_at
    )
    return (await db.exec(statement)).first()


async def run_page(db: AsyncSession, filters: RunFilter, limit: int, after: Position | None) -> list[DeploymentRun]:
    """Up to ``limit + 1`` runs, newest first, after a keyset position."""
    statement = select(DeploymentRun)
    if filters.deployment_id is not None:
        statement = statement.where(DeploymentRun.deployment_id == filters.deployment_id)
    # Exactly one of session_id and error is set; session_id is a plain column (a JSON null is not SQL NULL).
    if filters.has_error is True:
        statement = statement.where(col(DeploymentRun.session_id).is_(None))
    elif filters.has_error is False:
        statement = statement.where(col(DeploymentRun.session_id).is_not(None))
    if filters.trigger_type is not None:
        statement = statement.where(DeploymentRun.trigger_type == filters.trigger_type)
    statement = page_query(
        statement,
        col(DeploymentRun.created_at),
        col(DeploymentRun.id),
        limit=limit,
        created=dict(filters.created),
        after=after,
    )
    return list((await db.exec(statement)).all())
