"""The local blob store: ``<dir>/<first two hex digits>/<digest>``, written through a temp file, fsync and rename."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from dma.storage.base import CHUNK, Blob, BlobMissing, Spool, check_digest


def _fsync_dir(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class _LocalWriter:
    def __init__(self, store: LocalStore, spool: Spool) -> None:
        self._store = store
        self._spool = spool

    async def write(self, data: bytes) -> None:
        await self._spool.write(data)

    async def commit(self) -> Blob:
        blob = await self._spool.seal()
        await asyncio.to_thread(self._store.publish, self._spool.path, blob.sha256)
        return blob

    async def abort(self) -> None:
        self._spool.discard()


class LocalStore:
    """Blobs in a directory of this host (the data dir by default), private to the server's uid."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / "tmp"

    def _path(self, digest: str) -> Path:
        digest = check_digest(digest)
        return self._root / digest[:2] / digest

    def _prepare(self) -> None:
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp.mkdir(mode=0o700, exist_ok=True)

    async def writer(self, limit: int | None = None) -> _LocalWriter:
        await asyncio.to_thread(self._prepare)
        return _LocalWriter(self, await asyncio.to_thread(Spool, self._tmp, limit))

    def publish(self, spooled: Path, digest: str) -> None:
        """Move a sealed spool file under its digest (blocking)."""
        final = self._path(digest)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        # Same bytes under the same name: replacing an existing blob is harmless, and rename is atomic.
        os.replace(spooled, final)
        _fsync_dir(final.parent)

    async def open(self, digest: str) -> AsyncIterator[bytes]:
        path = self._path(digest)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobMissing(digest) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def read(self, digest: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(digest).read_bytes)
        except FileNotFoundError:
            raise BlobMissing(digest) from None

    async def save_to(self, digest: str, path: Path) -> None:
        source = self._path(digest)

        def copy() -> None:
            temporary = path.with_name(f".{path.name}.part")
            try:
                shutil.copyfile(source, temporary)
            except FileNotFoundError:
                raise BlobMissing(digest) from None
            os.replace(temporary, path)

        await asyncio.to_thread(copy)

    async def delete(self, digest: str) -> None:
        await asyncio.to_thread(self._path(digest).unlink, True)

    async def close(self) -> None:
        return None
