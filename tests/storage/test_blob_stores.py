"""Both blob stores through one contract: the local directory, and S3 over the real S3 HTTP protocol.

No cloud is reachable here, so the S3 store talks to moto's S3 server on loopback (a real HTTP endpoint speaking
the S3 API), through boto3, the same client library production uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anthropic
import boto3
import pytest
from moto.server import ThreadedMotoServer

from dma.storage import BlobMissing, BlobStore, TooLarge, put_bytes, put_stream
from dma.storage.local import LocalStore
from dma.storage.s3 import S3Store
from tests.stack import Stack, free_port

BUCKET = "dma-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "blobs")
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    yield S3Store(BUCKET, prefix=f"{tmp_path.name}/", endpoint_url=endpoint, region="us-east-1")


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_round_trip_is_content_addressed(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)
    blob = await put_stream(store, chunks(data, 64 * 1024))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert await store.read(blob.sha256) == data
    assert b"".join([chunk async for chunk in store.open(blob.sha256)]) == data
    again = await put_bytes(store, data)
    assert again == blob, "the same bytes get the same name"
    target = tmp_path / "copy.bin"
    await store.save_to(blob.sha256, target)
    assert target.read_bytes() == data
    await store.delete(blob.sha256)
    with pytest.raises(BlobMissing):
        await store.read(blob.sha256)
    with pytest.raises(BlobMissing):
        await anext(store.open(blob.sha256))
    await store.delete(blob.sha256)
    await store.close()


async def test_too_large_keeps_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        await put_stream(store, chunks(b"x" * 5000, 1000), limit=4096)
    assert (tmp_path / "blobs" / "tmp").exists() is False or not any((tmp_path / "blobs" / "tmp").iterdir())
    with pytest.raises(BlobMissing):
        await store.read(hashlib.sha256(b"x" * 5000).hexdigest())


async def test_names_are_only_digests(store: BlobStore) -> None:
    for hostile in ("../../etc/passwd", "A" * 64, "", "0" * 63):
        with pytest.raises(BlobMissing):
            await store.read(hostile)


async def test_concurrent_writers_of_one_blob(store: BlobStore) -> None:
    data = os.urandom(300_000)
    blobs = await asyncio.gather(*(put_bytes(store, data) for _ in range(5)))
    assert len(set(blobs)) == 1 and await store.read(blobs[0].sha256) == data


def test_the_api_stores_files_in_s3(s3_endpoint: str, stack: Stack, tmp_path: Path) -> None:
    settings = {"storage_backend": "s3", "s3_bucket": BUCKET, "s3_endpoint_url": s3_endpoint, "s3_prefix": "api/"}
    s3_stack = Stack(
        stack.database_url, stack.temporal_address, stack.model_url, tmp_path, api_overrides=settings, with_worker=False
    ).start()
    try:
        with anthropic.Anthropic(api_key="test-key", base_url=s3_stack.base_url, _strict_response_validation=True) as c:
            data = os.urandom(3 * 1024 * 1024)
            uploaded = c.beta.files.upload(file=("s3.bin", data, "application/octet-stream"))
            assert c.beta.files.download(uploaded.id).read() == data
    finally:
        s3_stack.stop()
    key = f"api/{hashlib.sha256(data).hexdigest()}"
    head = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data)
    assert not (tmp_path / "files").exists(), "nothing went to the local store"
