"""API keys over HTTP, for the web console (a dma extension: ``/v1/dma/…`` is not part of the Managed Agents API).

The routes sit behind the same key check as every other route: holding a valid key lets a person create, list and
revoke keys, as ``dma keys`` lets whoever can reach the database. Keys from ``DMA_API_KEYS`` are configuration, not
stored rows, so they are not listed and cannot be revoked here.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DbDep
from api.errors import NotFound
from dma.ids import is_id
from dma.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from dma.store import api_keys as store

router = APIRouter(prefix="/v1/dma/api_keys", tags=["dma: api keys"])


@router.post("", response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreate, db: DbDep) -> ApiKeyCreated:
    """Create an API key; the response is the only time the key is shown."""
    row, key = await store.create(db, body.name)
    return ApiKeyCreated(**ApiKeyOut.of(row).model_dump(), key=key)


@router.get("", response_model=ApiKeyPage)
async def list_api_keys(db: DbDep) -> ApiKeyPage:
    """List the stored API keys, newest first (never the keys themselves)."""
    rows = await store.list_keys(db)
    return ApiKeyPage(data=[ApiKeyOut.of(row) for row in reversed(rows)])


@router.post("/{key_id}/revoke", response_model=ApiKeyOut)
async def revoke_api_key(key_id: str, db: DbDep) -> ApiKeyOut:
    """Revoke an API key: requests carrying it are refused from now on."""
    row = await store.revoke_key(db, key_id) if is_id(key_id, "apikey") else None
    if row is None:
        raise NotFound("api key", key_id)
    return ApiKeyOut.of(row)
