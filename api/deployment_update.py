"""``POST /v1/deployments/{id}``: what an update changes, checked whole before the row or the schedule moves."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api import deployment_schedules as schedules
from api.deps import AppState
from api.session_resolve import resolve_agent_pin, resolve_environment
from dma.clock import utcnow
from dma.schemas.common import merge_metadata
from dma.schemas.deployments import DeploymentUpdate, initial_event_rows, schedule_row
from dma.store import session_resources as resource_store
from dma.store.tables import Deployment
from dma.store.vaults import check_session_vaults


async def _changes(db: AsyncSession, row: Deployment, body: DeploymentUpdate) -> dict[str, Any]:
    """Column values the update sends (whether or not they differ from the row)."""
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    if "agent" in sent and body.agent is not None:
        changes["agent_id"], changes["agent_version"] = await resolve_agent_pin(db, body.agent)
    if "environment_id" in sent and body.environment_id is not None:
        changes["environment_id"] = (await resolve_environment(db, body.environment_id)).id
    if "initial_events" in sent and body.initial_events is not None:
        changes["initial_events"] = initial_event_rows(body.initial_events)
    if "name" in sent and body.name is not None:
        changes["name"] = body.name
    if "description" in sent:
        changes["description"] = body.description or None
    if "metadata" in sent and body.metadata is not None:
        changes["meta"] = merge_metadata(row.meta or {}, body.metadata)
    if "budget" in sent:
        changes["budget"] = body.budget.model_dump(mode="json") if body.budget else None
    if "vault_ids" in sent:
        changes["vault_ids"] = await check_session_vaults(db, body.vault_ids or [])
    if "resources" in sent:
        changes["resources"] = await resource_store.deployment_configs(db, body.resources or [])
    if "schedule" in sent:
        changes["schedule"] = schedule_row(body.schedule)
    return changes


async def apply_update(state: AppState, db: AsyncSession, row: Deployment, body: DeploymentUpdate) -> None:
    """Apply the update to the locked row and mirror a schedule change into Temporal (before the commit)."""
    changes = {key: value for key, value in (await _changes(db, row, body)).items() if getattr(row, key) != value}
    if not changes:
        return
    had_schedule = row.schedule is not None
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    if "schedule" in changes:
        if row.schedule is not None:
            await schedules.put(state, row)
        elif had_schedule:
            await schedules.remove(state, row)
    if "name" in changes and row.schedule is not None and "schedule" not in changes:
        await schedules.put(state, row)
    db.add(row)
