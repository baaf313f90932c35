"""Memory stores, memories and memory versions (API_CONTRACT.md §2.7): request bodies, path rules, responses."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from dma.clock import rfc3339
from dma.schemas.common import ConflictError, RequestModel, SchemaError
from dma.store.tables import Memory, MemoryStore, MemoryVersion

MAX_CONTENT_BYTES = 102_400
MAX_PATH_BYTES = 1024
MAX_SEGMENTS = 20
MOUNT_ROOT = "/mnt/memory"
Metadata = dict[Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=512)]]
NullableMetadata = dict[
    Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=512)] | None
]
View = Literal["basic", "full"]
Actor = dict[str, str]


class MemoryPathConflict(ConflictError):
    """The path is taken, or is the parent or a child of a memory (409 ``memory_path_conflict_error``)."""

    error_type = "memory_path_conflict_error"


class MemoryPreconditionFailed(ConflictError):
    """The stored content's digest is not the one the writer expected (409 ``memory_precondition_failed_error``)."""

    error_type = "memory_precondition_failed_error"


def _forbidden_char(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf") or char in "\u2028\u2029"


def check_path(path: str, field: str = "path") -> str:
    """A memory path if it keeps every rule; else ``SchemaError`` saying which.

    Rules: starts with ``/``; 1-20 segments, none empty, ``.`` or ``..``; no control or format characters, no
    U+2028/U+2029; in NFC; at most 1,024 UTF-8 bytes.
    """
    problem = ""
    segments = path[1:].split("/") if path.startswith("/") else []
    if not path.startswith("/"):
        problem = "must start with '/'"
    elif len(path.encode()) > MAX_PATH_BYTES:
        problem = f"must be at most {MAX_PATH_BYTES} bytes"
    elif not 1 <= len(segments) <= MAX_SEGMENTS:
        problem = f"must have 1 to {MAX_SEGMENTS} segments"
    elif any(segment in ("", ".", "..") for segment in segments):
        problem = "may not have an empty, '.' or '..' segment"
    elif any(_forbidden_char(char) for char in path):
        problem = "may not contain control or format characters, U+2028 or U+2029"
    elif unicodedata.normalize("NFC", path) != path:
        problem = "must be in Unicode Normalization Form C"
    if problem:
        raise SchemaError(f"{field} {path[:80]!r} {problem}")
    return path


def check_content(content: str) -> str:
    """Content of at most 102,400 UTF-8 bytes."""
    size = len(content.encode())
    if size > MAX_CONTENT_BYTES:
        raise SchemaError(f"content is {size} bytes; a memory holds at most {MAX_CONTENT_BYTES}")
    return content


def check_prefix(prefix: str) -> str:
    """A ``path_prefix``: ``/``, or a valid path followed by ``/``."""
    if prefix == "/":
        return prefix
    if not prefix.endswith("/"):
        raise SchemaError("path_prefix must end with '/'")
    check_path(prefix[:-1], "path_prefix")
    return prefix


def mount_slug(name: str) -> str:
    """The store's directory under ``/mnt/memory/``: the name lowercased, each run of non-alphanumerics a ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()) or "-"


def mount_path(name: str) -> str:
    """Where a store with this name is mounted in a session's sandbox."""
    return f"{MOUNT_ROOT}/{mount_slug(name)}"


class MemoryStoreCreate(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    metadata: Annotated[Metadata, Field(max_length=16)] | None = None


class MemoryStoreUpdate(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    metadata: Annotated[NullableMetadata, Field(max_length=16)] | None = None


class MemoryCreate(RequestModel):
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    content: str | None


class Precondition(RequestModel):
    type: Literal["content_sha256"]
    content_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class MemoryUpdate(RequestModel):
    content: str | None = None
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    precondition: Precondition | None = None


def store_response(row: MemoryStore) -> dict[str, Any]:
    """The ``memory_store`` object."""
    return {
        "id": row.id,
        "type": "memory_store",
        "name": row.name,
        "description": row.description or "",
        "metadata": row.meta or {},
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "archived_at": rfc3339(row.archived_at),
    }


def memory_response(row: Memory, view: View) -> dict[str, Any]:
    """The ``memory`` object; ``content`` is null under ``view=basic``."""
    return {
        "id": row.id,
        "type": "memory",
        "memory_store_id": row.memory_store_id,
        "memory_version_id": row.memory_version_id,
        "path": row.path,
        "content_sha256": row.content_sha256,
        "content_size_bytes": row.content_size_bytes,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "content": row.content if view == "full" else None,
    }


def version_response(row: MemoryVersion, view: View) -> dict[str, Any]:
    """The ``memory_version`` object."""
    return {
        "id": row.id,
        "type": "memory_version",
        "memory_id": row.memory_id,
        "memory_store_id": row.memory_store_id,
        "operation": row.operation,
        "created_at": rfc3339(row.created_at),
        "content": row.content if view == "full" else None,
        "content_sha256": row.content_sha256,
        "content_size_bytes": row.content_size_bytes,
        "path": row.path,
        "created_by": row.created_by,
        "redacted_at": rfc3339(row.redacted_at),
        "redacted_by": row.redacted_by,
    }


class MemoryStoreOut(BaseModel):
    id: str
    type: Literal["memory_store"]
    name: str
    description: str
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    archived_at: str | None = None


class MemoryStorePage(BaseModel):
    data: list[MemoryStoreOut]
    next_page: str | None = None


class MemoryOut(BaseModel):
    id: str
    type: Literal["memory"]
    memory_store_id: str
    memory_version_id: str
    path: str
    content_sha256: str
    content_size_bytes: int
    created_at: str
    updated_at: str
    content: str | None = None


class MemoryPrefixOut(BaseModel):
    type: Literal["memory_prefix"]
    path: str


class MemoryPage(BaseModel):
    data: list[MemoryOut | MemoryPrefixOut]
    next_page: str | None = None


class MemoryVersionOut(BaseModel):
    id: str
    type: Literal["memory_version"]
    memory_id: str
    memory_store_id: str
    operation: Literal["created", "modified", "deleted"]
    created_at: str
    content: str | None = None
    content_sha256: str | None = None
    content_size_bytes: int | None = None
    path: str | None = None
    created_by: dict[str, str] | None = None
    redacted_at: str | None = None
    redacted_by: dict[str, str] | None = None


class MemoryVersionPage(BaseModel):
    data: list[MemoryVersionOut]
    next_page: str | None = None


class Deleted(BaseModel):
    id: str
    type: str
