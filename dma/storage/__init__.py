"""Content-addressed blob storage for file uploads, skill files and session outputs (README "Files").

Blobs are named by the SHA-256 of their bytes, so a name is never chosen by a client (hostile file names cannot reach
a path) and a blob, once written, never changes. ``make_storage`` picks the backend the settings name: a local
directory (the default, in the data dir) or an S3-compatible bucket.
"""

from __future__ import annotations

from dma.settings import CommonSettings
from dma.storage.base import Blob, BlobMissing, BlobStore, BlobWriter, TooLarge, put_bytes, put_stream, sha256_hex

__all__ = [
    "Blob",
    "BlobMissing",
    "BlobStore",
    "BlobWriter",
    "TooLarge",
    "make_storage",
    "put_bytes",
    "put_stream",
    "sha256_hex",
]


def make_storage(settings: CommonSettings) -> BlobStore:
    """The blob store the settings name (no I/O until first use)."""
    if settings.storage_backend == "s3":
        from dma.storage.s3 import S3Store

        return S3Store(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    from dma.storage.local import LocalStore

    return LocalStore(settings.resolved_storage_dir())
