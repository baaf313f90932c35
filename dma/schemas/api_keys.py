"""API keys over HTTP (a dma extension beyond the Managed Agents API, used by the web console).

A key is shown once, in the response that creates it; every other response carries only its id, name and dates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dma.clock import rfc3339
from dma.schemas.common import RequestModel
from dma.store.tables import ApiKey


class ApiKeyCreate(RequestModel):
    """Body of ``POST /v1/dma/api_keys``."""

    name: Annotated[str, Field(max_length=256)] = ""


class ApiKeyOut(BaseModel):
    """An API key without the key."""

    id: str
    type: Literal["api_key"] = "api_key"
    name: str
    created_at: str
    revoked_at: str | None = None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        """The response form of a stored key."""
        created = rfc3339(row.created_at) or ""
        return cls(id=row.id, name=row.name, created_at=created, revoked_at=rfc3339(row.revoked_at))


class ApiKeyCreated(ApiKeyOut):
    """The response that creates a key: the only one that carries it."""

    key: str


class ApiKeyPage(BaseModel):
    """Every stored key, newest first (a handful per deployment, so one page)."""

    data: list[ApiKeyOut]
    next_page: None = None
