"""Deployment and deployment-run requests and responses (the SDK's ``beta.deployments`` / ``beta.deployment_runs``).

Create and update follow ``deployment_create_params`` / ``deployment_update_params``: an update replaces what it sends
(``initial_events``, ``resources``, ``vault_ids``, ``schedule``, ``budget`` whole; ``metadata`` per key) and keeps
what it omits. Rules a field's type cannot say are checked here, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from dma.clock import rfc3339
from dma.cron import CronSchedule, parse_cron
from dma.schemas.common import RequestModel, SchemaError, check_metadata
from dma.schemas.events import SystemMessage, UserDefineOutcome, UserMessage, event_body, has_redacted_block
from dma.schemas.sessions import BudgetLimit, ResourceId
from dma.store.tables import Deployment, DeploymentRun

DeploymentStatus = Literal["active", "paused"]
TriggerType = Literal["schedule", "manual"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
MAX_INITIAL_EVENTS = 50
InitialEvent = Annotated[UserMessage | UserDefineOutcome | SystemMessage, Field(discriminator="type")]
InitialEvents = Annotated[list[InitialEvent], Field(min_length=1, max_length=MAX_INITIAL_EVENTS)]


class AgentParam(RequestModel):
    type: Literal["agent"]
    id: ResourceId
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class ScheduleParam(RequestModel):
    type: Literal["cron"]
    expression: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    def parsed(self) -> CronSchedule:
        """The validated schedule (``SchemaError`` naming what is wrong)."""
        return parse_cron(self.expression, self.timezone)


AgentChoice = ResourceId | AgentParam


class DeploymentCreate(RequestModel):
    """Body of ``POST /v1/deployments``."""

    agent: AgentChoice
    environment_id: ResourceId
    initial_events: InitialEvents
    name: Name
    budget: BudgetLimit | None = None
    description: Description | None = None
    metadata: dict[str, str] | None = None
    resources: Annotated[list[dict[str, Any]], Field(max_length=500)] | None = None
    schedule: ScheduleParam | None = None
    vault_ids: Annotated[list[ResourceId], Field(max_length=50)] | None = None


class DeploymentUpdate(RequestModel):
    """Body of ``POST /v1/deployments/{id}``; ``model_fields_set`` tells an omitted field from a null one."""

    agent: AgentChoice | None = None
    budget: BudgetLimit | None = None
    description: Description | None = None
    environment_id: ResourceId | None = None
    initial_events: InitialEvents | None = None
    metadata: dict[str, str | None] | None = None
    name: Name | None = None
    resources: Annotated[list[dict[str, Any]], Field(max_length=500)] | None = None
    schedule: ScheduleParam | None = None
    vault_ids: Annotated[list[ResourceId], Field(max_length=50)] | None = None

    def check_not_cleared(self) -> None:
        """Fields the params say "cannot be cleared" may be omitted, never sent as null."""
        for name in ("agent", "environment_id", "initial_events", "name"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise SchemaError(f"{name} cannot be cleared; omit it to keep the current value")


def initial_event_rows(events: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """The stored form of initial events (their response form), after the rules their types cannot say.

    Raises:
        SchemaError: for an outcome (not supported yet), a redacted block, or a misplaced ``system.message``.
    """
    for index, event in enumerate(events):
        if isinstance(event, UserDefineOutcome):
            raise SchemaError(f"initial_events.{index}: user.define_outcome is not supported by this server yet")
        if has_redacted_block(event):
            raise SchemaError(f"initial_events.{index}: user events may not contain redacted blocks")
        if isinstance(event, SystemMessage):
            # The params: at most one, the final event, right after the user.message it accompanies.
            last = index == len(events) - 1
            after_message = index > 0 and isinstance(events[index - 1], UserMessage)
            if not (last and after_message):
                raise SchemaError(
                    f"initial_events.{index}: a system.message must be the final event, right after a user.message"
                )
    return [{"type": str(getattr(event, "type", "")), **event_body(event)} for event in events]


def schedule_row(schedule: ScheduleParam | None) -> dict[str, Any] | None:
    """The stored schedule: the validated expression and timezone."""
    if schedule is None:
        return None
    parsed = schedule.parsed()
    return {"type": "cron", "expression": parsed.expression, "timezone": parsed.timezone}


def _agent(agent_id: str, version: int) -> dict[str, Any]:
    return {"type": "agent", "id": agent_id, "version": version}


def deployment_response(
    row: Deployment, upcoming: list[datetime] | None = None, last_run_at: datetime | None = None
) -> dict[str, Any]:
    """The ``deployment`` object; ``upcoming`` and ``last_run_at`` come from the Temporal schedule."""
    schedule: dict[str, Any] | None = None
    if row.schedule is not None:
        last = max((t for t in (last_run_at, row.last_run_at) if t is not None), default=None)
        schedule = {
            **row.schedule,
            "last_run_at": rfc3339(last),
            "upcoming_runs_at": [] if row.archived_at is not None else [rfc3339(t) for t in upcoming or []],
        }
    return {
        "id": row.id,
        "type": "deployment",
        "agent": _agent(row.agent_id, row.agent_version),
        "archived_at": rfc3339(row.archived_at),
        "budget": row.budget,
        "created_at": rfc3339(row.created_at),
        "description": row.description,
        "environment_id": row.environment_id,
        "initial_events": row.initial_events,
        "metadata": row.meta or {},
        "name": row.name,
        "paused_reason": row.paused_reason if row.status == "paused" else None,
        "resources": row.resources or [],
        "schedule": schedule,
        "status": row.status if row.archived_at is None else "active",
        "updated_at": rfc3339(row.updated_at),
        "vault_ids": row.vault_ids or [],
    }


def run_response(row: DeploymentRun) -> dict[str, Any]:
    """The ``deployment_run`` object."""
    trigger: dict[str, Any] = {"type": row.trigger_type}
    if row.trigger_type == "schedule":
        trigger["scheduled_at"] = rfc3339(row.scheduled_at)
    return {
        "id": row.id,
        "type": "deployment_run",
        "agent": _agent(row.agent_id, row.agent_version),
        "created_at": rfc3339(row.created_at),
        "deployment_id": row.deployment_id,
        "error": row.error,
        "session_id": row.session_id,
        "trigger_context": trigger,
    }


def check_deployment_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """Create's metadata, checked against the limits."""
    return check_metadata(metadata or {})


class DeploymentOut(BaseModel):
    """Response model of a deployment (documents the shape in OpenAPI)."""

    id: str
    type: Literal["deployment"]
    agent: dict[str, Any]
    archived_at: str | None = None
    budget: dict[str, Any] | None = None
    created_at: str
    description: str | None = None
    environment_id: str
    initial_events: list[dict[str, Any]]
    metadata: dict[str, str]
    name: str
    paused_reason: dict[str, Any] | None = None
    resources: list[dict[str, Any]]
    schedule: dict[str, Any] | None = None
    status: DeploymentStatus
    updated_at: str
    vault_ids: list[str]


class DeploymentPage(BaseModel):
    data: list[DeploymentOut]
    next_page: str | None = None


class DeploymentRunOut(BaseModel):
    """Response model of a deployment run."""

    id: str
    type: Literal["deployment_run"]
    agent: dict[str, Any]
    created_at: str
    deployment_id: str
    error: dict[str, Any] | None = None
    session_id: str | None = None
    trigger_context: dict[str, Any]


class DeploymentRunPage(BaseModel):
    data: list[DeploymentRunOut]
    next_page: str | None = None
