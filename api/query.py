"""Query-string helpers: bracket arrays, bracket time filters and opaque cursors (API_CONTRACT.md §1.1, §1.5)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import TypeAdapter, ValidationError

from api.errors import InvalidRequest

_DATETIME = TypeAdapter(datetime)
# Integer columns are 32-bit on PostgreSQL; larger values must be a 400, not a driver overflow.
MAX_INT32 = 2**31 - 1


def multi(request: Request, name: str) -> list[str]:
    """Values of an array parameter sent as ``name[]=a&name[]=b`` or as a repeated ``name``."""
    return request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)


def time_filters(request: Request, name: str = "created_at") -> dict[str, datetime]:
    """``created_at[gt|gte|lt|lte]`` (also ``created_at_gte`` style) as ``{"gte": datetime, ...}``."""
    found: dict[str, datetime] = {}
    for op in ("gt", "gte", "lt", "lte"):
        raw = request.query_params.get(f"{name}[{op}]") or request.query_params.get(f"{name}_{op}")
        if raw is None:
            continue
        try:
            value = _DATETIME.validate_python(raw)
        except ValidationError:
            raise InvalidRequest(f"{name}[{op}] must be an RFC 3339 timestamp, got {raw[:64]!r}") from None
        if value.tzinfo is None:
            raise InvalidRequest(f"{name}[{op}] needs a timezone offset, got {raw[:64]!r}")
        found[op] = value
    return found


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for a keyset position."""
    return "page_" + base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The keyset position inside a cursor; a foreign or damaged cursor is a 400."""
    raw = cursor.removeprefix("page_")
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("page is not a cursor this server issued") from None
    if not isinstance(value, dict):
        raise InvalidRequest("page is not a cursor this server issued")
    return value  # pyright: ignore[reportUnknownVariableType] - checked to be a dict just above


def page_limit(request: Request, default: int, maximum: int) -> int:
    """The ``limit`` query parameter, checked to be an integer from 1 to ``maximum``."""
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidRequest(f"limit must be an integer from 1 to {maximum}, got {raw[:32]!r}")
    return int(raw)
