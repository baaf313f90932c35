"""Files (API_CONTRACT.md §2.9): the file object and the rules for what clients may name a file."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel

from dma.clock import rfc3339
from dma.schemas.common import SchemaError
from dma.store.tables import StoredFile

MAX_FILENAME_CHARS = 255
MIN_EXPIRES_SECONDS = 3600
MAX_EXPIRES_SECONDS = 7_776_000
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


def clean_filename(raw: str | None, mime_type: str) -> str:
    """The stored name: the final path component only (``../../etc/passwd`` becomes ``passwd``).

    A name is only ever metadata (blobs are stored by digest), but it reaches clients' disks through downloads, so
    control and format characters are refused rather than stored.

    Raises:
        SchemaError: for control characters (NUL included) or a name over 255 characters.
    """
    name = re.split(r"[/\\]", raw or "")[-1].strip()
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in name):
        raise SchemaError("file names may not contain control or format characters")
    if len(name) > MAX_FILENAME_CHARS:
        raise SchemaError(f"file names may have at most {MAX_FILENAME_CHARS} characters, got {len(name)}")
    if name in ("", ".", ".."):
        return "unnamed" + (mimetypes.guess_extension(mime_type) or "")
    return unicodedata.normalize("NFC", name)


def resolve_mime_type(declared: str, filename: str | None) -> str:
    """The part's declared type, or one guessed from the name when the client sent none or a generic one."""
    declared = declared.split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream" and _MIME.match(declared):
        return declared
    guessed, _ = mimetypes.guess_type(filename or "", strict=False)
    return guessed or "application/octet-stream"


def file_response(row: StoredFile) -> dict[str, Any]:
    """The ``file`` object clients read."""
    body: dict[str, Any] = {
        "id": row.id,
        "type": "file",
        "filename": row.filename,
        "mime_type": row.mime_type,
        "size_bytes": row.size_bytes,
        "created_at": rfc3339(row.created_at),
        "downloadable": row.downloadable,
        "expires_at": rfc3339(row.expires_at),
    }
    if row.scope_id is not None:
        body["scope"] = {"type": "session", "id": row.scope_id}
    return body


class FileScope(BaseModel):
    type: Literal["session"]
    id: str


class FileOut(BaseModel):
    """Response model of a file (documents the shape in OpenAPI)."""

    id: str
    type: Literal["file"]
    filename: str
    mime_type: str
    size_bytes: int
    created_at: str
    downloadable: bool | None = None
    expires_at: str | None = None
    scope: FileScope | None = None


class FilePage(BaseModel):
    data: list[FileOut]
    next_page: str | None = None


class FileDeleted(BaseModel):
    id: str
    type: Literal["file_deleted"] = "file_deleted"
