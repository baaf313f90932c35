"""What every wire schema shares: domain errors, the request base model, metadata rules and the cursor page.

The errors live here rather than in ``api`` because ``dma`` must not import the layers above it; the API maps each
``DomainError`` onto its HTTP envelope by ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

ItemT = TypeVar("ItemT")

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512


class DomainError(Exception):
    """A failure the client caused; ``status`` and ``error_code`` say how the API reports it."""

    status: ClassVar[int] = 400

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class SchemaError(DomainError):
    """The request is well-formed JSON but breaks a rule of the contract (400 ``invalid_request_error``)."""


class NotFoundError(DomainError):
    """The named resource does not exist (404 ``not_found_error``)."""

    status = 404

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id[:80]!r} not found")


class ConflictError(DomainError):
    """A deterministic conflict such as a stale ``version`` (409 ``conflict_error``); retrying cannot help."""

    status = 409


class RequestModel(BaseModel):
    """Base of request bodies: unknown keys are dropped and types are not coerced (``"1"`` is not an int)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Page(BaseModel, Generic[ItemT]):
    """A cursor page (API_CONTRACT.md §1.5): ``next_page`` is null on the last page so SDK iteration stops."""

    data: list[ItemT]
    next_page: str | None


def describe_validation_error(error: ValidationError) -> str:
    """One readable line per pydantic error (at most five), such as ``tools.0.name: Field required``."""
    errors = error.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more errors")
    return "; ".join(parts)


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Enforce the metadata limits (16 pairs, keys 1–64 characters, values up to 512).

    Raises:
        SchemaError: with error code ``invalid_metadata`` naming every problem.
    """
    problems: list[str] = []
    if len(metadata) > METADATA_MAX_PAIRS:
        problems.append(f"metadata has {len(metadata)} keys; at most {METADATA_MAX_PAIRS} are allowed")
    for key, value in metadata.items():
        if not 1 <= len(key) <= METADATA_MAX_KEY:
            problems.append(f"metadata key {key[:80]!r} must be 1-{METADATA_MAX_KEY} characters")
        if len(value) > METADATA_MAX_VALUE:
            problems.append(f"metadata value of {key[:80]!r} is longer than {METADATA_MAX_VALUE} characters")
    if problems:
        raise SchemaError("; ".join(problems[:5]), error_code="invalid_metadata")
    return dict(metadata)


def merge_metadata(
    current: Mapping[str, str], patch: Mapping[str, str | None], *, empty_deletes: bool = False
) -> dict[str, str]:
    """Apply a per-key metadata patch: a string upserts, ``None`` deletes (and ``""`` too when ``empty_deletes``).

    Raises:
        SchemaError: when the merged bag breaks the limits of ``check_metadata``.
    """
    merged = dict(current)
    for key, value in patch.items():
        if value is None or (empty_deletes and value == ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    return check_metadata(merged)


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping without its ``None`` values (optional response keys that were never set)."""
    return {key: value for key, value in values.items() if value is not None}


class UnavailableError(DomainError):
    """A service the request needs (Temporal) cannot be reached; nothing was changed (503, the SDK retries)."""

    status = 503

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is unavailable; nothing was changed, retry shortly")
