"""Resource ids: opaque strings with the documented prefixes (API_CONTRACT.md §1.3)."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ID_LENGTH = 24


def _encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    chars: list[str] = []
    while number and len(chars) < _ID_LENGTH:
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars).rjust(_ID_LENGTH, "0")


def new_id(prefix: str) -> str:
    """A fresh random id such as ``agent_011CZkYpogX7uDKUyvBTophP``."""
    return f"{prefix}_{_encode(secrets.token_bytes(18))}"


def event_id(session_id: str, run: str, step: int, slot: str) -> str:
    """The deterministic id of a server-authored event.

    The workflow allocates ``step`` (carried across continue-as-new), and an activity names each event it writes in
    that step by ``slot``; a retried activity therefore writes the same ids and upserts instead of duplicating.
    ``run`` is the workflow run: a run that starts afresh (an operator's terminate or reset, a lost workflow) counts
    steps from the start again, and its events must not collide with those of the runs before it.
    """
    digest = hashlib.sha256(f"{session_id}/{run}/{step}/{slot}".encode()).digest()
    return f"sevt_{_encode(digest[:18])}"


def derived_id(prefix: str, key: str) -> str:
    """An id of this kind derived from ``key``, for a resource a retried activity must create only once."""
    digest = hashlib.sha256(f"{prefix}/{key}".encode()).digest()
    return f"{prefix}_{_encode(digest[:18])}"


def is_id(value: str, prefix: str) -> bool:
    """Whether ``value`` looks like an id of this kind (used to reject garbage before touching the DB)."""
    return value.startswith(prefix + "_") and 0 < len(value) <= 64 and value.replace("_", "").isalnum()
