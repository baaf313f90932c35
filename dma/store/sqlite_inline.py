"""SQLite connections for SQLAlchemy's ``aiosqlite`` dialect that run each call on the event loop, not in a thread.

aiosqlite gives every connection a thread and hands each call across: a statement costs four hand-offs (cursor,
execute, fetch, close), each a queue put, a thread switch under the GIL and a wake-up of the loop. Profiled, that was
most of dma's own CPU per turn (docs/performance.md). SQLite's calls are short (a local file, WAL, no fsync per commit
with ``synchronous=NORMAL``), so running them where they are awaited is cheaper than any hand-off.

The one wait that can be long is for another process's write lock. That wait must not block the loop, so these
connections have no busy timeout: a call that finds the database locked is retried after an ``asyncio.sleep`` that
grows from 1 ms to 50 ms, for up to ``busy_timeout`` seconds (what SQLite's own busy handler would do, without holding
up everything else). In one process writers already queue on ``Database.write_lock``, so this only happens between
processes (an API and a worker on one SQLite file).

Retrying is safe: SQLite reports "database is locked" before a statement changes anything, and writers open with
``BEGIN IMMEDIATE``, so a transaction never has to upgrade from reading to writing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

FIRST_BACKOFF_SECONDS = 0.001
MAX_BACKOFF_SECONDS = 0.05


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class _Calls:
    """Stands in for aiosqlite's call queue, which the dialect uses directly to set ``isolation_level``."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 - handed to whoever awaits the future, as aiosqlite does
            future.set_exception(error)


class InlineCursor:
    """The part of ``aiosqlite.Cursor`` SQLAlchemy uses."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await self._connection.call(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        rows = list(parameters)  # a generator could not be replayed after a retry
        await self._connection.call(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """The part of ``aiosqlite.Connection`` SQLAlchemy's dialect uses, calling sqlite3 on the loop's own thread."""

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = connection
        self._tx = _Calls()
        self._busy_timeout = busy_timeout

    @classmethod
    def open(cls, path: str, busy_timeout: float) -> InlineConnection:
        """A connection to the SQLite file at ``path`` (``check_same_thread`` off: the pool may close it elsewhere)."""
        return cls(sqlite3.connect(path, timeout=0, check_same_thread=False), busy_timeout)

    @property
    def _connection(self) -> sqlite3.Connection:
        """What the dialect checks before a commit or rollback (aiosqlite's is None once closed)."""
        return self._conn

    async def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` now; while the database is locked by another process, retry it without blocking."""
        deadline, backoff = None, FIRST_BACKOFF_SECONDS
        while True:
            try:
                return function()
            except sqlite3.OperationalError as error:
                if not _locked(error):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_timeout
                if now >= deadline:
                    raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def cursor(self) -> InlineCursor:
        """A cursor; the dialect enters it with ``async with`` (aiosqlite's is an awaitable context manager)."""
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await self.call(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        """Close at once (the dialect's "terminate")."""
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # pyright: ignore[reportAttributeAccessIssue] - typeshed: Literal levels
