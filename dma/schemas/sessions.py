"""Session requests (API_CONTRACT.md §2.3) and the session response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dma.clock import as_utc, rfc3339, utcnow
from dma.schemas.events import InitialEvent
from dma.store.tables import Session

ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Metadata = dict[Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=512)]]
NullableMetadata = dict[
    Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=512)] | None
]
MAX_METADATA_PAIRS = 16


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class AgentReference(_Wire):
    type: Literal["agent"]
    id: ResourceId
    version: Annotated[int, Field(ge=1)] | None = None


class AgentWithOverrides(_Wire):
    """Overrides replace the agent's values whole; which keys were sent matters (``model_fields_set``)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["agent_with_overrides"]
    id: ResourceId
    version: Annotated[int, Field(ge=1)] | None = None
    model: Any = None
    system: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    tools: list[Any] | None = None
    mcp_servers: list[Any] | None = None
    skills: list[Any] | None = None

    def overrides(self) -> dict[str, Any]:
        """The override keys the client sent, with their raw values."""
        keys = ("model", "system", "tools", "mcp_servers", "skills")
        return {key: getattr(self, key) for key in keys if key in self.model_fields_set}


class MonetaryAmount(_Wire):
    amount: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,11}$")]
    currency: Literal["USD"]


class BudgetLimit(_Wire):
    type: Literal["limit"]
    max_list_cost: MonetaryAmount


class SessionCreate(_Wire):
    """Body of ``POST /v1/sessions``."""

    agent: ResourceId | Annotated[AgentReference | AgentWithOverrides, Field(discriminator="type")]
    environment_id: ResourceId
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    metadata: Annotated[Metadata, Field(max_length=MAX_METADATA_PAIRS)] | None = None
    resources: Annotated[list[dict[str, Any]], Field(max_length=100)] | None = None
    vault_ids: Annotated[list[ResourceId], Field(max_length=50)] | None = None
    budget: BudgetLimit | None = None
    initial_events: Annotated[list[InitialEvent], Field(max_length=50)] | None = None


class SessionAgentUpdate(_Wire):
    tools: list[Any] | None = None
    mcp_servers: list[Any] | None = None


class SessionUpdate(_Wire):
    """Body of ``POST /v1/sessions/{id}``; absent keys keep their value."""

    agent: SessionAgentUpdate | None = None
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    metadata: Annotated[NullableMetadata, Field(max_length=MAX_METADATA_PAIRS)] | None = None
    budget: BudgetLimit | None = None
    vault_ids: list[Any] | None = None


def merge_metadata(current: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """Per-key merge: a string upserts, ``None`` deletes."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _stats(row: Session, now: datetime) -> dict[str, float]:
    end = as_utc(row.archived_at) if row.archived_at is not None else now
    running = (now - as_utc(row.running_since)).total_seconds() if row.running_since is not None else 0.0
    return {
        "active_seconds": round(row.active_seconds + max(0.0, running), 3),
        "duration_seconds": round(max(0.0, (end - as_utc(row.created_at)).total_seconds()), 3),
    }


def session_response(row: Session) -> dict[str, Any]:
    """The ``session`` object clients read."""
    return {
        "id": row.id,
        "type": "session",
        "status": row.status,
        "agent": row.agent,
        "environment_id": row.environment_id,
        "resources": row.resources or [],
        "vault_ids": row.vault_ids or [],
        "metadata": row.meta or {},
        "outcome_evaluations": [],
        "stats": _stats(row, utcnow()),
        "usage": row.usage or {},
        "title": row.title,
        "budget": row.budget,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "archived_at": rfc3339(row.archived_at),
        "deployment_id": row.deployment_id,
    }


class SessionOut(BaseModel):
    """Response model of a session (documents the shape in OpenAPI)."""

    id: str
    type: Literal["session"]
    status: Literal["rescheduling", "running", "idle", "terminated"]
    agent: dict[str, Any]
    environment_id: str
    resources: list[dict[str, Any]]
    vault_ids: list[str]
    metadata: dict[str, str]
    outcome_evaluations: list[dict[str, Any]]
    stats: dict[str, float]
    usage: dict[str, Any]
    title: str | None = None
    budget: dict[str, Any] | None = None
    created_at: str
    updated_at: str
    archived_at: str | None = None
    deployment_id: str | None = None


class SessionPage(BaseModel):
    data: list[SessionOut]
    next_page: str | None = None
    prev_page: str | None = None


class SessionDeleted(BaseModel):
    id: str
    type: Literal["session_deleted"] = "session_deleted"
