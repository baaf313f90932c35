"""Session resources (API_CONTRACT.md §2.5): inputs, mount-path rules and the response union."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints

from dma.clock import rfc3339
from dma.schemas.common import RequestModel, SchemaError
from dma.store.tables import SessionResource

UPLOADS_DIR = "/mnt/session/uploads"
OUTPUTS_DIR = "/mnt/session/outputs"
SKILLS_DIR = "/mnt/skills"
MEMORY_DIR = "/mnt/memory"
# Where resources may be mounted: the workspace and /mnt, less the directories the server itself mounts there.
MOUNT_ROOTS = ("/workspace/", "/mnt/")
RESERVED = (OUTPUTS_DIR, SKILLS_DIR, MEMORY_DIR)
_REPO_PATH = re.compile(r"^/([A-Za-z0-9_.-]{1,100})/([A-Za-z0-9_.-]{1,100}?)(?:\.git)?/?$")
MountPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class BranchCheckout(RequestModel):
    type: Literal["branch"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{1,255}$")]


class CommitCheckout(RequestModel):
    type: Literal["commit"]
    sha: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{7,64}$")]


class FileResourceIn(RequestModel):
    type: Literal["file"]
    file_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    mount_path: MountPath | None = None


class RepositoryResourceIn(RequestModel):
    type: Literal["github_repository"]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    authorization_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    checkout: Annotated[BranchCheckout | CommitCheckout, Field(discriminator="type")] | None = None
    mount_path: MountPath | None = None


class MemoryStoreResourceIn(RequestModel):
    type: Literal["memory_store"]
    memory_store_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    access: Literal["read_write", "read_only"] | None = None
    instructions: Annotated[str, StringConstraints(max_length=4096)] | None = None


ResourceIn = Annotated[FileResourceIn | RepositoryResourceIn | MemoryStoreResourceIn, Field(discriminator="type")]


class ResourceUpdate(RequestModel):
    authorization_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


def check_mount_path(path: str) -> str:
    """An absolute, normalized path under ``/workspace/`` or ``/mnt/``, outside the server's own mounts.

    Raises:
        SchemaError: naming what is wrong with it.
    """
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in path):
        raise SchemaError("mount_path may not contain control or format characters")
    if not path.startswith("/") or posixpath.normpath(path) != path.rstrip("/") or "/../" in f"{path}/":
        raise SchemaError(f"mount_path {path[:80]!r} must be an absolute, normalized path")
    path = path.rstrip("/")
    if not path.startswith(MOUNT_ROOTS) or any(path == root or path.startswith(root + "/") for root in RESERVED):
        raise SchemaError(f"mount_path {path[:80]!r} must be below /workspace/ or /mnt/, outside {', '.join(RESERVED)}")
    return path


def repository_parts(url: str) -> tuple[str, str]:
    """``(owner, name)`` of a GitHub repository URL such as ``https://github.com/owner/repo(.git)``.

    Raises:
        SchemaError: for anything else (credentials in the URL included: the token has its own field).
    """
    parts = urlsplit(url)
    match = _REPO_PATH.match(parts.path)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or match is None:
        raise SchemaError("url must be a repository URL such as https://github.com/owner/repo")
    if parts.query or parts.fragment or match.group(2) in ("", ".", ".."):
        raise SchemaError("url must be a repository URL such as https://github.com/owner/repo")
    return match.group(1), match.group(2)


def default_mount_path(resource: FileResourceIn | RepositoryResourceIn) -> str:
    """Where a resource goes when the client names no ``mount_path``."""
    if isinstance(resource, FileResourceIn):
        return f"{UPLOADS_DIR}/{resource.file_id}"
    return f"/workspace/{repository_parts(resource.url)[1]}"


def resource_response(row: SessionResource) -> dict[str, Any]:
    """The resource as clients read it (memory-store resources have no id or timestamps)."""
    if row.type == "memory_store":
        return dict(row.body)
    return {
        "id": row.id,
        **row.body,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }
