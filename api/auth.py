"""API-key authentication: ``Authorization: Bearer <key>`` (what the SDK sends) or ``x-api-key: <key>`` (curl docs).

Keys come from ``DMA_API_KEYS`` and from the ``api_keys`` table, where only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from sqlmodel import select

from api.deps import get_state
from api.errors import Unauthorized
from dma.store.tables import ApiKey


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(request: Request) -> str | None:
    """The key the client sent, from either header."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def require_api_key(request: Request) -> None:
    """Reject the request with 401 unless it carries a valid key (or the server runs keyless for ``dma dev``)."""
    state = get_state(request)
    if state.settings.dev_keyless:
        return
    key = presented_key(request)
    if key is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")
    digest = hash_key(key)
    if any(hmac.compare_digest(digest, hash_key(allowed)) for allowed in state.settings.api_keys):
        return
    async with state.db.read() as db:
        row = (await db.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("invalid API key")
