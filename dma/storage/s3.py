"""The S3-compatible blob store, through boto3 (any S3 API: AWS, MinIO, Ceph, moto's server in the tests).

Uploads are spooled to a local temporary file first (hashed on the way), because an object is named by its digest,
which is known only at the end; boto3's managed transfer then sends it (multipart for large files). Credentials come
from boto3's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from dma.storage.base import CHUNK, Blob, BlobMissing, Spool, check_digest

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _missing(err: ClientError) -> bool:
    response: Any = err.response
    return str(response.get("Error", {}).get("Code", "")) in _MISSING_CODES


class _S3Writer:
    def __init__(self, store: S3Store, spool: Spool) -> None:
        self._store = store
        self._spool = spool

    async def write(self, data: bytes) -> None:
        await self._spool.write(data)

    async def commit(self) -> Blob:
        try:
            blob = await self._spool.seal()
            await asyncio.to_thread(self._store.upload, self._spool.path, blob.sha256)
            return blob
        finally:
            self._spool.discard()

    async def abort(self) -> None:
        self._spool.discard()


class S3Store:
    """Blobs as objects ``<prefix><digest>`` of one bucket."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None):
        if not bucket:
            raise ValueError("DMA_S3_BUCKET must name a bucket when DMA_STORAGE_BACKEND=s3")
        self._bucket = bucket
        self._prefix = prefix
        # boto3 ships no type information: its client is used as ``Any`` behind this class's typed methods.
        factory: Any = boto3
        self._client: Any = factory.client("s3", endpoint_url=endpoint_url, region_name=region)

    def _key(self, digest: str) -> str:
        return self._prefix + check_digest(digest)

    async def writer(self, limit: int | None = None) -> _S3Writer:
        return _S3Writer(self, await asyncio.to_thread(Spool, None, limit))

    def upload(self, path: Path, digest: str) -> None:
        """Send a sealed spool file as the object of its digest, unless it is there already (blocking)."""
        key = self._key(digest)
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
            return
        except ClientError as err:
            if not _missing(err):
                raise
        self._client.upload_file(str(path), self._bucket, key)

    def _get(self, digest: str) -> Any:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self._key(digest))["Body"]
        except ClientError as err:
            if _missing(err):
                raise BlobMissing(digest) from None
            raise

    async def open(self, digest: str) -> AsyncIterator[bytes]:
        body = await asyncio.to_thread(self._get, digest)
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def read(self, digest: str) -> bytes:
        body = await asyncio.to_thread(self._get, digest)
        try:
            return await asyncio.to_thread(body.read)
        finally:
            body.close()

    async def save_to(self, digest: str, path: Path) -> None:
        temporary = path.with_name(f".{path.name}.part")

        def download() -> None:
            try:
                self._client.download_file(self._bucket, self._key(digest), str(temporary))
            except ClientError as err:
                if _missing(err):
                    raise BlobMissing(digest) from None
                raise
            os.replace(temporary, path)

        await asyncio.to_thread(download)

    async def delete(self, digest: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=self._key(digest))

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
