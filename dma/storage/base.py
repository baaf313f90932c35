"""The blob store protocol and what its backends share: hashing while spooling to a temporary file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobMissing(Exception):
    """No blob has this digest (never written, or deleted)."""


class TooLarge(Exception):
    """A stream went past the size limit it was written under; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Blob:
    """A stored blob: its digest (also its name) and size."""

    sha256: str
    size: int


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """``digest`` if it is a lowercase hex SHA-256 (the only names a store accepts)."""
    if not SHA256.match(digest):
        raise BlobMissing(digest)
    return digest


class BlobWriter(Protocol):
    """One blob being written: chunks in, then ``commit`` (atomic: complete under its name) or ``abort``."""

    async def write(self, data: bytes) -> None:
        """Append a chunk (``TooLarge`` past the writer's limit)."""
        ...

    async def commit(self) -> Blob:
        """Make the blob durable under its digest."""
        ...

    async def abort(self) -> None:
        """Drop what was written (idempotent)."""
        ...


class BlobStore(Protocol):
    """Where blobs live. Writes are atomic: a blob is either complete under its name or absent."""

    async def writer(self, limit: int | None = None) -> BlobWriter:
        """A writer for a new blob that refuses (``TooLarge``) to grow past ``limit`` bytes."""
        ...

    def open(self, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks (``BlobMissing`` when absent, raised by the first iteration)."""
        ...

    async def read(self, digest: str) -> bytes:
        """The whole blob (for small ones: skill files, model context)."""
        ...

    async def save_to(self, digest: str, path: Path) -> None:
        """Write the blob to a local file (atomically: a temporary file renamed onto ``path``)."""
        ...

    async def delete(self, digest: str) -> None:
        """Remove the blob (idempotent)."""
        ...

    async def close(self) -> None:
        """Release clients."""
        ...


async def put_stream(store: BlobStore, chunks: AsyncIterator[bytes], limit: int | None = None) -> Blob:
    """Store a stream as one blob."""
    writer = await store.writer(limit)
    try:
        async for chunk in chunks:
            await writer.write(chunk)
        return await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def put_bytes(store: BlobStore, data: bytes) -> Blob:
    """Store bytes held in memory."""
    writer = await store.writer()
    try:
        await writer.write(data)
        return await writer.commit()
    except BaseException:
        await writer.abort()
        raise


class Spool:
    """A temporary file that hashes what is written to it: every backend's writer spools first.

    Chunks are buffered up to ``CHUNK`` and written off the event loop; ``seal`` fsyncs and returns the digest, and
    the backend then publishes the file under it (rename, or upload).
    """

    def __init__(self, directory: Path | None, limit: int | None) -> None:
        self._limit = limit
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._buffered = 0
        self.size = 0
        fd, name = tempfile.mkstemp(prefix="blob-", dir=directory)
        self.path = Path(name)
        self._fd = fd

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            raise TooLarge(self._limit)
        self._hash.update(data)
        self._pending.append(data)
        self._buffered += len(data)
        if self._buffered >= CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        data, self._pending, self._buffered = b"".join(self._pending), [], 0
        await asyncio.to_thread(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    async def seal(self) -> Blob:
        """Flush, fsync and close the file; the digest and size of what was written."""
        await self._flush()
        await asyncio.to_thread(os.fsync, self._fd)
        self._close()
        return Blob(self._hash.hexdigest(), self.size)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Close and remove the temporary file (idempotent)."""
        self._close()
        self.path.unlink(missing_ok=True)
