"""Reading a skill upload (``files[]`` parts, each named by its path inside the skill) into the blob store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request

from api.errors import InvalidRequest
from api.multipart import PartData, PartStart, parts
from api.uploads import MAX_FIELD_BYTES, too_large
from dma.schemas.common import SchemaError
from dma.schemas.skills import SKILL_FILE, check_skill_path, name_and_description, top_directory
from dma.storage import Blob, BlobStore, BlobWriter, TooLarge

FILE_FIELDS = ("files[]", "files")
Release = Callable[[list[str]], Awaitable[None]]


@dataclass
class SkillUpload:
    """The stored files of an upload (path → blob) and its ``display_name`` field."""

    files: dict[str, Blob] = field(default_factory=dict[str, Blob])
    display_name: str | None = None
    directory: str = ""
    name: str = ""
    description: str = ""

    def digests(self) -> list[str]:
        return [blob.sha256 for blob in self.files.values()]


class _Reader:
    def __init__(self, storage: BlobStore, limit: int) -> None:
        self.storage = storage
        self.limit = limit
        self.used = 0
        self.upload = SkillUpload()
        self.writer: BlobWriter | None = None
        self.path = ""
        self.field: bytearray | None = None

    async def start(self, part: PartStart) -> None:
        if part.name in FILE_FIELDS:
            try:
                self.path = check_skill_path(part.filename)
            except SchemaError as err:
                raise InvalidRequest(err.message) from None
            if self.path in self.upload.files:
                raise InvalidRequest(f"skill file {self.path[:80]!r} appears twice in the upload")
            self.writer = await self.storage.writer(self.limit - self.used)
        elif part.name == "display_name":
            self.field = bytearray()
        else:
            self.field = None

    async def data(self, chunk: bytes) -> None:
        if self.writer is not None:
            await self.writer.write(chunk)
        elif self.field is not None:
            self.field.extend(chunk)
            if len(self.field) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"display_name is longer than {MAX_FIELD_BYTES} bytes")

    async def end(self) -> None:
        if self.writer is not None:
            blob = await self.writer.commit()
            self.writer = None
            self.used += blob.size
            self.upload.files[self.path] = blob
        elif self.field is not None:
            self.upload.display_name = self.field.decode("utf-8", errors="replace").strip()
            self.field = None


async def read_skill_upload(request: Request, storage: BlobStore, limit: int, release: Release) -> SkillUpload:
    """Stream every file of a skill upload into the store and check the skill's shape and ``SKILL.md``.

    On a failure the blobs already stored are handed to ``release`` (which keeps those other rows still name).

    Raises:
        InvalidRequest: bad paths, not one top-level directory, no or a bad ``SKILL.md``.
        ApiError: 413 once the files pass ``limit`` bytes in all.
    """
    reader = _Reader(storage, limit)
    try:
        async for event in parts(request):
            if isinstance(event, PartStart):
                await reader.start(event)
            elif isinstance(event, PartData):
                await reader.data(event.data)
            else:
                await reader.end()
        upload = reader.upload
        try:
            upload.directory = top_directory(list(upload.files))
            skill_md = await storage.read(upload.files[f"{upload.directory}/{SKILL_FILE}"].sha256)
            upload.name, upload.description = name_and_description(skill_md)
        except SchemaError as err:
            raise InvalidRequest(err.message) from None
    except BaseException as err:
        await release(reader.upload.digests())
        if isinstance(err, TooLarge):
            raise too_large(limit, "DMA_MAX_SKILL_BYTES") from None
        raise
    finally:
        if reader.writer is not None:
            await reader.writer.abort()
    return upload
