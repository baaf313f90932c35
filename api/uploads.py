"""Reading a file upload (``POST /v1/files``) off the request stream into the blob store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.errors import ApiError, InvalidRequest
from api.multipart import PartData, PartStart, parts
from dma.schemas.common import SchemaError
from dma.schemas.files import MAX_EXPIRES_SECONDS, MIN_EXPIRES_SECONDS, clean_filename, resolve_mime_type
from dma.storage import Blob, BlobStore, BlobWriter, TooLarge

MAX_FIELD_BYTES = 1024


@dataclass(frozen=True)
class UploadedFile:
    """A stored upload: its blob and the metadata the form carried."""

    blob: Blob
    filename: str
    mime_type: str
    fields: dict[str, bytearray]

    def expires_in_seconds(self) -> int | None:
        """The ``expires_in_seconds`` field, checked (``InvalidRequest`` when out of range)."""
        return _expires(self.fields.get("expires_in_seconds"))


def too_large(limit: int, setting: str) -> ApiError:
    """413 naming the limit and the setting that holds it."""
    return ApiError(413, f"the upload is larger than {limit} bytes ({setting})")


class _FormState:
    def __init__(self, storage: BlobStore, limit: int) -> None:
        self.storage = storage
        self.limit = limit
        self.writer: BlobWriter | None = None
        self.blob: Blob | None = None
        self.filename = ""
        self.mime_type = ""
        self.field: str | None = None
        self.fields: dict[str, bytearray] = {}
        self.in_file = False

    async def start(self, part: PartStart) -> None:
        if part.name == "file":
            if self.blob is not None or self.writer is not None:
                raise InvalidRequest("send exactly one part named 'file'")
            self.mime_type = resolve_mime_type(part.content_type, part.filename)
            try:
                self.filename = clean_filename(part.filename, self.mime_type)
            except SchemaError as err:
                raise InvalidRequest(f"file: {err.message}") from None
            self.writer = await self.storage.writer(self.limit)
            self.in_file = True
        else:
            self.field = part.name
            self.fields.setdefault(part.name, bytearray())

    async def data(self, chunk: bytes) -> None:
        if self.in_file:
            assert self.writer is not None
            await self.writer.write(chunk)
        elif self.field is not None:
            value = self.fields[self.field]
            value.extend(chunk)
            if len(value) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"form field {self.field[:64]!r} is longer than {MAX_FIELD_BYTES} bytes")

    async def end(self) -> None:
        if self.in_file:
            assert self.writer is not None
            self.blob = await self.writer.commit()
            self.writer, self.in_file = None, False
        self.field = None


def _expires(raw: bytearray | None) -> int | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace").strip()
    if not text.isdigit() or not MIN_EXPIRES_SECONDS <= int(text) <= MAX_EXPIRES_SECONDS:
        raise InvalidRequest(
            f"expires_in_seconds must be an integer from {MIN_EXPIRES_SECONDS} to {MAX_EXPIRES_SECONDS}"
        )
    return int(text)


async def read_upload(request: Request, storage: BlobStore, limit: int) -> UploadedFile:
    """Stream the ``file`` part into the store and read the small fields.

    Raises:
        InvalidRequest: a malformed form, a missing or second ``file`` part, a bad name or ``expires_in_seconds``.
        ApiError: 413 once the file passes ``limit`` bytes (nothing is kept).
    """
    form = _FormState(storage, limit)
    try:
        async for event in parts(request):
            if isinstance(event, PartStart):
                await form.start(event)
            elif isinstance(event, PartData):
                await form.data(event.data)
            else:
                await form.end()
        if form.blob is None:
            raise InvalidRequest("the upload has no part named 'file'")
    except TooLarge:
        raise too_large(limit, "DMA_MAX_UPLOAD_BYTES") from None
    finally:
        if form.writer is not None:
            await form.writer.abort()
    return UploadedFile(form.blob, form.filename, form.mime_type, form.fields)
