"""Async engines and sessions for SQLite (SQLAlchemy's aiosqlite dialect, calls run on the loop) and PostgreSQL.

SQLite allows one writer at a time. A deferred transaction that reads and then writes fails at once with "database is
locked" when another writer got in between, and the busy timeout cannot help it. So every write transaction on SQLite
starts with ``BEGIN IMMEDIATE`` (it waits for the lock up front), while reads use a second engine with plain deferred
transactions that WAL lets run beside the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.store.sqlite_inline import InlineConnection

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    """Whether the URL names a SQLite database."""
    return url.startswith("sqlite")


def _sqlite_engine(url: str, immediate: bool) -> AsyncEngine:
    path = make_url(url).database or ""

    async def connect() -> InlineConnection:
        # Calls run on the loop, and waits for another process's lock sleep on it (dma.store.sqlite_inline).
        return InlineConnection.open(path, SQLITE_BUSY_TIMEOUT_MS / 1000)

    engine = create_async_engine(url, async_creator=connect)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        # Take transaction control away from the driver so the "begin" hook below decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass(frozen=True)
class Database:
    """The engines of one database: ``write()`` for transactions that change rows, ``read()`` for the rest.

    On SQLite, writers of one process also queue on an asyncio lock: waiting there wakes a writer the moment the lock
    frees, where SQLite's busy handler sleeps in growing steps (measured: +19 % turns/s, -38 % p90 at 20 x 5).
    """

    url: str
    writer: AsyncEngine
    reader: AsyncEngine
    write_lock: asyncio.Lock | None = field(default=None, compare=False)

    @classmethod
    def connect(cls, url: str) -> Database:
        """Build the engines for a URL (no I/O happens until first use)."""
        if is_sqlite(url):
            writer, reader = _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False)
            return cls(url=url, writer=writer, reader=reader, write_lock=asyncio.Lock())
        engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        return cls(url=url, writer=engine, reader=engine)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def write(self) -> AsyncGenerator[AsyncSession, None]:
        """A session in a transaction that commits on success and rolls back on error."""
        async with contextlib.AsyncExitStack() as stack:
            if self.write_lock is not None:
                await stack.enter_async_context(self.write_lock)
            session = await stack.enter_async_context(
                async_sessionmaker(self.writer, class_=AsyncSession, expire_on_commit=False)()
            )
            await stack.enter_async_context(session.begin())
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncGenerator[AsyncSession, None]:
        """A session for reads only."""
        async with async_sessionmaker(self.reader, class_=AsyncSession, expire_on_commit=False)() as session:
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
