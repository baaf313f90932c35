"""The Files API (API_CONTRACT.md §2.9): streamed uploads, metadata, lists, downloads, deletes.

No beta header is required (the SDK sends none). Bytes go straight from the request stream into the blob store
(``dma.storage``) under their digest; the row that names them is written once they are durable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import StateDep
from api.errors import ApiError, InvalidRequest, NotFound
from api.multipart import BINARY, BYTES_RESPONSE, form_body
from api.query import multi, page_limit
from api.routes.agents import next_page, page_after
from api.uploads import UploadedFile, read_upload
from dma.clock import as_utc, utcnow
from dma.ids import new_id
from dma.schemas.files import FileDeleted, FileOut, FilePage, file_response
from dma.storage import BlobMissing, BlobStore
from dma.store import files as store
from dma.store.engine import Database
from dma.store.tables import StoredFile

router = APIRouter(prefix="/v1/files", tags=["files"])
MAX_IDS = 100


UPLOAD_FORM = form_body({"file": BINARY, "expires_in_seconds": {"type": "integer"}}, ["file"])


@router.post("", response_model=FileOut, openapi_extra=UPLOAD_FORM)
async def upload_file(request: Request, state: StateDep) -> dict[str, Any]:
    """Upload a file (multipart part ``file``; optional ``expires_in_seconds``)."""
    upload = await read_upload(request, state.storage, state.settings.max_upload_bytes)
    try:
        row = _row(upload)
        async with state.db.write() as db:
            db.add(row)
    except BaseException:
        await release_blob(state.db, state.storage, upload.blob.sha256)
        raise
    return file_response(row)


def _row(upload: UploadedFile) -> StoredFile:
    now = utcnow()
    seconds = upload.expires_in_seconds()
    expires = now + timedelta(seconds=seconds) if seconds else None
    return StoredFile(
        id=new_id("file"),
        filename=upload.filename,
        mime_type=upload.mime_type,
        size_bytes=upload.blob.size,
        sha256=upload.blob.sha256,
        downloadable=True,
        created_at=now,
        expires_at=expires,
    )


@router.get("", response_model=FilePage)
async def list_files(
    request: Request, state: StateDep, scope_id: str | None = None, page: str | None = None
) -> dict[str, Any]:
    """List files, newest first (``ids[]`` asks for given files, in one page)."""
    ids = multi(request, "ids")
    if ids:
        if page is not None or "limit" in request.query_params:
            raise InvalidRequest("ids[] cannot be combined with page or limit")
        if len(set(ids)) > MAX_IDS:
            raise InvalidRequest(f"ids[] may name at most {MAX_IDS} files")
        async with state.db.read() as db:
            rows = await store.by_ids(db, ids)
        return {"data": [file_response(row) for row in rows], "next_page": None}
    limit = page_limit(request, default=20, maximum=1000)
    async with state.db.read() as db:
        rows, position = await store.page(db, limit=limit, scope_id=scope_id, after=page_after(page))
    return {"data": [file_response(row) for row in rows], "next_page": next_page(position)}


async def load_file(db: Database, file_id: str) -> StoredFile:
    """The file, or 404."""
    async with db.read() as session:
        row = await store.get(session, file_id)
    if row is None:
        raise NotFound("file", file_id)
    return row


@router.get("/{file_id}", response_model=FileOut)
async def retrieve_file_metadata(file_id: str, state: StateDep) -> dict[str, Any]:
    """Get a file's metadata."""
    return file_response(await load_file(state.db, file_id))


@router.get("/{file_id}/content", response_class=StreamingResponse, responses=BYTES_RESPONSE)
async def download_file(file_id: str, state: StateDep) -> StreamingResponse:
    """Download a file's bytes exactly as stored."""
    row = await load_file(state.db, file_id)
    if not row.downloadable:
        raise InvalidRequest(f"file {file_id!r} is not downloadable", error_code="file_not_downloadable")
    if row.expires_at is not None and as_utc(row.expires_at) <= utcnow():
        raise ApiError(404, f"file {file_id!r} has expired", error_code="file_expired")
    chunks = await _opened(state.storage, row)
    headers = {"content-disposition": content_disposition(row.filename), "content-length": str(row.size_bytes)}
    return StreamingResponse(chunks, media_type=row.mime_type, headers=headers)


async def _opened(storage: BlobStore, row: StoredFile) -> AsyncIterator[bytes]:
    """The blob's stream with its first chunk already read, so a missing blob is a 404 and not a broken body."""
    stream = storage.open(row.sha256)
    try:
        first = await anext(stream, b"")
    except BlobMissing:
        raise ApiError(404, f"the content of file {row.id!r} is gone", error_code="file_expired") from None

    async def chunks() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return chunks()


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name percent-encoded (RFC 6266 / 5987)."""
    fallback = "".join(
        char if char.isascii() and char.isprintable() and char not in '"\\' else "_" for char in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.delete("/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, state: StateDep) -> dict[str, Any]:
    """Delete a file and, when nothing else names them, its bytes."""
    async with state.db.write() as db:
        row = await store.get(db, file_id)
        if row is None:
            raise NotFound("file", file_id)
        await db.delete(row)
    await release_blob(state.db, state.storage, row.sha256)
    return {"id": file_id, "type": "file_deleted"}


async def release_blob(db: Database, storage: BlobStore, digest: str) -> None:
    """Delete a blob that no row names any more (a file or skill file naming it keeps it)."""
    async with db.read() as session:
        if await store.blob_in_use(session, digest):
            return
    await storage.delete(digest)
