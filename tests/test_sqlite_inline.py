"""SQLite calls run on the loop, and a wait for another process's write lock does not stop the loop meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from dma.store import migrate
from dma.store.engine import Database
from dma.store.sqlite_inline import InlineConnection


@pytest.fixture
def url(tmp_path: Path) -> str:
    address = f"sqlite+aiosqlite:///{tmp_path / 'dma.db'}"
    migrate.upgrade(address)
    return address


def _hold_write_lock(path: str) -> sqlite3.Connection:
    """What another process's open write transaction looks like to this one."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES ('k', 'k', 'h', '2026-01-01')")
    return other


async def test_a_writer_waits_for_another_process_without_blocking_the_loop(url: str, tmp_path: Path) -> None:
    db = Database.connect(url)
    async with db.write() as session:  # the pool's connection exists: what waits below is the BEGIN IMMEDIATE
        await (await session.connection()).execute(text("SELECT 1"))
    other = _hold_write_lock(str(tmp_path / "dma.db"))
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())

    async def write() -> None:
        async with db.write() as session:
            await (await session.connection()).execute(text("DELETE FROM api_keys WHERE id = 'k'"))

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.5)
    assert not writing.done()
    # The loop ran all along while the writer waited: no gap between ticks near what a blocking wait would make.
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) >= 10 and max(gaps) < 0.25, max(gaps)
    other.commit()
    other.close()
    await asyncio.wait_for(writing, 5)
    ticker.cancel()
    async with db.read() as session:
        count = (await (await session.connection()).execute(text("SELECT count(*) FROM api_keys"))).scalar()
    assert count == 0  # the write ran after the other transaction committed its row
    await db.dispose()


async def test_the_wait_ends_with_the_lock_error_after_the_busy_timeout(tmp_path: Path, url: str) -> None:
    path = str(tmp_path / "dma.db")
    other = _hold_write_lock(path)
    connection = InlineConnection.open(path, busy_timeout=0.2)
    connection.isolation_level = None
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await connection.execute("BEGIN IMMEDIATE")
    assert 0.2 <= time.monotonic() - started < 2
    other.rollback()
    await connection.execute("BEGIN IMMEDIATE")  # free again: the same connection goes on
    await connection.rollback()
    await connection.close()
    other.close()
