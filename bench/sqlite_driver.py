"""The store's SQLite driver against aiosqlite's thread hand-off, on the transaction pair every turn repeats.

    python -m bench.sqlite_driver [--sessions 20] [--pairs 50] [--rounds 2]

Each pair is what a model step and an SSE reader do per commit: a write transaction (lock the session row, append
three events) and a read of the log after a position. ``sessions`` run at once, ``pairs`` each, alternating the two
drivers per round (A B A B) on fresh SQLite files. Prints wall and CPU per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dma.store import engine as store_engine
from dma.store import events as log
from dma.store import migrate
from dma.store.events import NewEvent
from dma.store.tables import Session


def _thread_engine(url: str, immediate: bool) -> AsyncEngine:
    """The engine as it was before ``dma.store.sqlite_inline``: aiosqlite, its thread, SQLite's busy handler."""
    engine = create_async_engine(url, connect_args={"timeout": store_engine.SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={store_engine.SQLITE_BUSY_TIMEOUT_MS}", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


async def _pairs(url: str, sessions: int, pairs: int) -> tuple[float, float]:
    db = store_engine.Database.connect(url)
    now = datetime.now(UTC)
    async with db.write() as session:
        for index in range(sessions):
            session.add(
                Session(
                    id=f"sesn_{index}", agent_id="a", agent_version=1, agent={}, environment_id="e",
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip

    async def one(session_id: str) -> None:
        for turn in range(pairs):
            async with db.write() as session:
                row = await log.lock_session(session, session_id)
                assert row is not None
                body = {"content": [{"type": "text", "text": "hello " * 20}]}
                await log.append(
                    session, row, [NewEvent(f"{session_id}_{turn}_{k}", "agent.message", body) for k in range(3)]
                )
            async with db.read() as session:
                await log.visible_after(session, session_id, max(0, turn * 3 - 3), 50)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(f"sesn_{index}") for index in range(sessions)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await db.dispose()
    total = sessions * pairs
    return wall * 1000 / total, cpu * 1000 / total


def _run(driver: str, directory: Path, sessions: int, pairs: int) -> tuple[float, float]:
    url = f"sqlite+aiosqlite:///{directory / driver / 'dma.db'}"
    (directory / driver).mkdir(parents=True)
    migrate.upgrade(url)
    original: Callable[[str, bool], AsyncEngine] = store_engine._sqlite_engine  # pyright: ignore[reportPrivateUsage]
    if driver == "aiosqlite thread":
        store_engine._sqlite_engine = _thread_engine  # pyright: ignore[reportPrivateUsage]
    try:
        return asyncio.run(_pairs(url, sessions, pairs))
    finally:
        store_engine._sqlite_engine = original  # pyright: ignore[reportPrivateUsage]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"aiosqlite thread": [], "on the loop": []}
    for round_number in range(args.rounds):
        for driver in results:
            directory = Path(tempfile.mkdtemp(prefix="dma-sqlite-driver-"))
            try:
                results[driver].append(_run(driver, directory, args.sessions, args.pairs))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            print(f"round {round_number + 1}: {driver} done", flush=True)
    print(
        f"\n{args.sessions} sessions at once × {args.pairs} pairs (write: lock + append 3 events; read: the log after)"
    )
    print("| driver | wall per pair (each round) | CPU per pair (each round) |\n|---|---|---|")
    for driver, figures in results.items():
        walls = " / ".join(f"{wall:.2f} ms" for wall, _ in figures)
        cpus = " / ".join(f"{cpu:.2f} ms" for _, cpu in figures)
        print(f"| {driver} | {walls} | {cpus} |")


if __name__ == "__main__":
    main()
