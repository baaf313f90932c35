"""API-key authentication: ``Authorization: Bearer <key>`` (what the SDK sends) or ``x-api-key: <key>`` (curl docs).

Keys come from ``DMA_API_KEYS`` and from the ``api_keys`` table (``dma keys create``), where only their SHA-256 is
stored.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from api.deps import get_state
from api.errors import Unauthorized
from dma.store import api_keys
from dma.store.api_keys import hash_key


def presented_key(request: Request) -> str | None:
    """The key the client sent, from either header."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


KEYLESS_ID = "apikey_keyless"


async def require_api_key(request: Request) -> None:
    """Reject the request with 401 unless it carries a valid key (or the server runs keyless for ``dma dev``).

    The key's id (what memory versions name as their ``api_actor``) is kept in ``request.state.api_key_id``: a stored
    key's own id, or for a key from ``DMA_API_KEYS`` one derived from its hash (it says nothing usable about the key).
    """
    state = get_state(request)
    if state.settings.dev_keyless:
        request.state.api_key_id = KEYLESS_ID
        return
    key = presented_key(request)
    if key is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")
    digest = hash_key(key)
    if any(hmac.compare_digest(digest, hash_key(allowed)) for allowed in state.settings.api_keys):
        request.state.api_key_id = "apikey_env" + digest[:20]
        return
    stored = await api_keys.key_id(state.db, key)
    if stored is None:
        raise Unauthorized("invalid API key")
    request.state.api_key_id = stored


def api_actor(request: Request) -> dict[str, str]:
    """The ``api_actor`` of the request's key."""
    return {"type": "api_actor", "api_key_id": str(getattr(request.state, "api_key_id", KEYLESS_ID))}
