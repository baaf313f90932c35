"""Self-wakeup requests and responses: dma's own extension (``docs/deployments.md``).

The REST routes and the model-facing wakeup tools share them.

A wakeup carries a short ``reason`` that comes back to the model when it fires, and exactly one of: ``in_seconds``
or ``at`` (one-shot), ``cron`` (recurring, 5-field cron in an IANA timezone) or ``every_seconds`` (recurring).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from dma.clock import rfc3339
from dma.schemas.common import RequestModel, SchemaError
from dma.store.tables import Wakeup

WakeupKind = Literal["once", "recurring"]
WakeupStatus = Literal["pending", "fired", "cancelled"]
MAX_SECONDS = 366 * 24 * 3600
Seconds = Annotated[int, Field(ge=1, le=MAX_SECONDS)]


class CronParam(RequestModel):
    type: Literal["cron"] = "cron"
    expression: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"


class WakeupCreate(RequestModel):
    """Body of ``POST /v1/sessions/{id}/wakeups`` and the input of the wakeup tools."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    in_seconds: Seconds | None = None
    at: Annotated[datetime, Field(strict=False)] | None = None
    cron: CronParam | None = None
    every_seconds: Seconds | None = None

    def kind(self) -> WakeupKind:
        """One-shot or recurring; exactly one way of saying when must be given."""
        given = [name for name in ("in_seconds", "at", "cron", "every_seconds") if getattr(self, name) is not None]
        if len(given) != 1:
            raise SchemaError("give exactly one of in_seconds, at, cron or every_seconds")
        if self.at is not None and self.at.tzinfo is None:
            raise SchemaError("at needs a timezone offset (RFC 3339)")
        return "once" if given[0] in ("in_seconds", "at") else "recurring"


def wakeup_response(row: Wakeup) -> dict[str, Any]:
    """The ``wakeup`` object."""
    return {
        "id": row.id,
        "type": "wakeup",
        "session_id": row.session_id,
        "kind": row.kind,
        "reason": row.reason,
        "fire_at": rfc3339(row.fire_at),
        "schedule": row.schedule,
        "status": row.status,
        "fire_count": row.fire_count,
        "last_fired_at": rfc3339(row.last_fired_at),
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


class WakeupOut(BaseModel):
    """Response model of a wakeup."""

    id: str
    type: Literal["wakeup"]
    session_id: str
    kind: WakeupKind
    reason: str
    fire_at: str | None = None
    schedule: dict[str, Any] | None = None
    status: WakeupStatus
    fire_count: int
    last_fired_at: str | None = None
    created_at: str
    updated_at: str


class WakeupPage(BaseModel):
    data: list[WakeupOut]
    next_page: str | None = None
