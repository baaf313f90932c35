"""Memory stores, memories and their versions. Every write of a memory appends an immutable version.

Writes of one store are serialized under the store row's lock, so the path rules (a path is never both a memory and
the parent of one) and the ``content_sha256`` preconditions hold under concurrent writers: one of two racing updates
with the same precondition wins, the other gets ``MemoryPreconditionFailed``, and no write is ever lost. The API and
the sandbox sync of sessions (``activities.memory``) write through these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc, utcnow
from dma.ids import is_id, new_id
from dma.schemas.common import NotFoundError, SchemaError
from dma.schemas.memory import Actor, MemoryPathConflict, MemoryPreconditionFailed, check_content, check_path
from dma.storage import sha256_hex
from dma.store.keyset import Position, page_query
from dma.store.tables import Memory, MemoryStore, MemoryVersion


async def get_store(db: AsyncSession, store_id: str, *, lock: bool = False) -> MemoryStore:
    """The store (locked for the transaction when ``lock``), or ``NotFoundError``."""
    if not is_id(store_id, "memstore"):
        raise NotFoundError("memory store", store_id)
    statement = select(MemoryStore).where(MemoryStore.id == store_id)
    row = (await db.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFoundError("memory store", store_id)
    return row


async def stores_page(
    db: AsyncSession,
    *,
    limit: int,
    include_archived: bool,
    created: Mapping[str, datetime] | None,
    after: Position | None,
) -> tuple[list[MemoryStore], Position | None]:
    """One page of stores, newest first, and the position after it (None on the last page)."""
    statement = select(MemoryStore)
    if not include_archived:
        statement = statement.where(col(MemoryStore.archived_at).is_(None))
    statement = page_query(
        statement, col(MemoryStore.created_at), col(MemoryStore.id), limit=limit, created=created, after=after
    )
    rows = list((await db.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], position


async def _writable_store(db: AsyncSession, store_id: str) -> MemoryStore:
    store = await get_store(db, store_id, lock=True)
    if store.archived_at is not None:
        raise SchemaError(f"memory store {store_id!r} is archived: its memories can be read and deleted, not written")
    return store


async def get_memory(db: AsyncSession, store_id: str, memory_id: str) -> Memory:
    """A memory of the store, or ``NotFoundError``."""
    row = await db.get(Memory, memory_id) if is_id(memory_id, "mem") else None
    if row is None or row.memory_store_id != store_id:
        raise NotFoundError("memory", memory_id)
    return row


async def by_path(db: AsyncSession, store_id: str, path: str) -> Memory | None:
    """The memory at ``path``, if any."""
    statement = select(Memory).where(Memory.memory_store_id == store_id, Memory.path == path)
    return (await db.exec(statement)).first()


async def _check_free(db: AsyncSession, store_id: str, path: str, moving: str | None = None) -> None:
    """``MemoryPathConflict`` when ``path`` is taken, is below a memory, or has memories below it."""
    segments = path[1:].split("/")
    ancestors = ["/" + "/".join(segments[:depth]) for depth in range(1, len(segments))]
    statement = select(Memory).where(
        Memory.memory_store_id == store_id,
        or_(col(Memory.path).in_([path, *ancestors]), col(Memory.path).startswith(path + "/", autoescape=True)),
    )
    for row in (await db.exec(statement.limit(2))).all():
        if row.id != moving:
            raise MemoryPathConflict(f"path {path[:80]!r} conflicts with memory {row.id} at {row.path[:80]!r}")


def _version(memory: Memory, operation: str, actor: Actor, now: datetime) -> MemoryVersion:
    deleted = operation == "deleted"
    return MemoryVersion(
        id=new_id("memver"),
        memory_store_id=memory.memory_store_id,
        memory_id=memory.id,
        operation=operation,
        content=None if deleted else memory.content,
        content_sha256=None if deleted else memory.content_sha256,
        content_size_bytes=None if deleted else memory.content_size_bytes,
        path=memory.path,
        created_by=dict(actor),
        session_id=actor.get("session_id"),
        api_key_id=actor.get("api_key_id"),
        created_at=now,
    )


async def create_memory(db: AsyncSession, store_id: str, path: str, content: str, actor: Actor) -> Memory:
    """A new memory and its ``created`` version.

    Raises:
        NotFoundError, SchemaError: an unknown or archived store, a bad path or content.
        MemoryPathConflict: the path is taken or overlaps another memory.
    """
    check_path(path)
    check_content(content)
    await _writable_store(db, store_id)
    await _check_free(db, store_id, path)
    now = utcnow()
    data = content.encode()
    memory = Memory(
        id=new_id("mem"),
        memory_store_id=store_id,
        path=path,
        content=content,
        content_sha256=sha256_hex(data),
        content_size_bytes=len(data),
        memory_version_id="",
        created_at=now,
        updated_at=now,
    )
    version = _version(memory, "created", actor, now)
    memory.memory_version_id = version.id
    db.add(memory)
    db.add(version)
    await db.flush()
    return memory


@dataclass(frozen=True)
class MemoryChange:
    """What an update asks for: ``None`` keeps the content or path; ``expected`` is the precondition digest."""

    content: str | None = None
    path: str | None = None
    expected: str | None = None


async def update_memory(db: AsyncSession, store_id: str, memory_id: str, change: MemoryChange, actor: Actor) -> Memory:
    """Apply an update; one that changes nothing writes no version.

    Raises:
        NotFoundError, SchemaError: as for ``create_memory``.
        MemoryPreconditionFailed: the stored digest is not ``change.expected``.
        MemoryPathConflict: a rename onto a taken or overlapping path.
    """
    if change.path is not None:
        check_path(change.path)
    if change.content is not None:
        check_content(change.content)
    await _writable_store(db, store_id)
    memory = await get_memory(db, store_id, memory_id)
    if change.expected is not None and change.expected != memory.content_sha256:
        raise MemoryPreconditionFailed(
            f"memory {memory_id} has content_sha256 {memory.content_sha256}, not {change.expected}"
        )
    new_content = memory.content if change.content is None else change.content
    new_path = memory.path if change.path is None else change.path
    if new_content == memory.content and new_path == memory.path:
        return memory
    if new_path != memory.path:
        await _check_free(db, store_id, new_path, moving=memory.id)
    now = utcnow()
    data = new_content.encode()
    memory.content, memory.path = new_content, new_path
    memory.content_sha256, memory.content_size_bytes = sha256_hex(data), len(data)
    version = _version(memory, "modified", actor, now)
    memory.memory_version_id, memory.updated_at = version.id, now
    db.add(memory)
    db.add(version)
    await db.flush()
    return memory


async def delete_memory(db: AsyncSession, store_id: str, memory_id: str, expected: str | None, actor: Actor) -> None:
    """Delete a memory (allowed in archived stores too) and record a ``deleted`` version.

    Raises:
        NotFoundError: unknown store or memory.
        MemoryPreconditionFailed: the stored digest is not ``expected``.
    """
    await get_store(db, store_id, lock=True)
    memory = await get_memory(db, store_id, memory_id)
    if expected is not None and expected != memory.content_sha256:
        raise MemoryPreconditionFailed(f"memory {memory_id} has content_sha256 {memory.content_sha256}, not {expected}")
    db.add(_version(memory, "deleted", actor, utcnow()))
    await db.delete(memory)
    await db.flush()


async def digests(db: AsyncSession, store_id: str) -> dict[str, str]:
    """Path → ``content_sha256`` of every memory of a store (what a session mount is checked against)."""
    statement = select(Memory.path, Memory.content_sha256).where(Memory.memory_store_id == store_id)
    return dict((await db.exec(statement)).all())


async def contents(db: AsyncSession, store_id: str, paths: list[str]) -> dict[str, str]:
    """Path → content of the given memories (those a mount must be brought up to)."""
    found: dict[str, str] = {}
    for start in range(0, len(paths), 500):
        statement = select(Memory.path, Memory.content).where(
            Memory.memory_store_id == store_id, col(Memory.path).in_(paths[start : start + 500])
        )
        found.update(dict((await db.exec(statement)).all()))
    return found


async def list_items(
    db: AsyncSession, store_id: str, prefix: str, depth: int, limit: int, after: str | None
) -> tuple[list[Memory | str], str | None]:
    """One page of memories below ``prefix`` by path, deeper ones rolled into prefixes when ``depth`` > 0.

    Items are memories, or strings for ``memory_prefix`` entries; the second value is the path to resume after.
    """
    statement = select(Memory).where(Memory.memory_store_id == store_id).order_by(col(Memory.path))
    if prefix != "/":
        statement = statement.where(col(Memory.path).startswith(prefix, autoescape=True))
    if after is not None:
        statement = statement.where(col(Memory.path) > after)
    items: list[Memory | str] = []
    keys: list[str] = []
    for row in (await db.exec(statement)).all():
        rest = row.path[len(prefix) :].split("/")
        if depth and len(rest) > depth:
            rolled = prefix + "/".join(rest[:depth]) + "/"
            if keys and keys[-1] == rolled:
                continue
            items.append(rolled)
            keys.append(rolled)
        else:
            items.append(row)
            keys.append(row.path)
        if len(items) > limit:
            break
    if len(items) <= limit:
        return items, None
    # Resume past the last item shown; a prefix item covers every path below it ("/a/" + U+10FFFF sorts after all).
    last = keys[limit - 1]
    return items[:limit], last + "\U0010ffff" if last.endswith("/") else last


@dataclass(frozen=True)
class VersionFilter:
    """The filters of a versions list; None leaves a field unfiltered."""

    memory_id: str | None = None
    operation: str | None = None
    session_id: str | None = None
    api_key_id: str | None = None
    created: Mapping[str, datetime] | None = None


async def versions_page(
    db: AsyncSession, store_id: str, filters: VersionFilter, limit: int, after: Position | None
) -> tuple[list[MemoryVersion], Position | None]:
    """One page of a store's versions, newest first."""
    statement = select(MemoryVersion).where(MemoryVersion.memory_store_id == store_id)
    for column, value in (
        (MemoryVersion.memory_id, filters.memory_id),
        (MemoryVersion.operation, filters.operation),
        (MemoryVersion.session_id, filters.session_id),
        (MemoryVersion.api_key_id, filters.api_key_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    statement = page_query(
        statement,
        col(MemoryVersion.created_at),
        col(MemoryVersion.id),
        limit=limit,
        created=filters.created,
        after=after,
    )
    rows = list((await db.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], position


async def get_version(db: AsyncSession, store_id: str, version_id: str) -> MemoryVersion:
    """A version of the store, or ``NotFoundError``."""
    row = await db.get(MemoryVersion, version_id) if is_id(version_id, "memver") else None
    if row is None or row.memory_store_id != store_id:
        raise NotFoundError("memory version", version_id)
    return row


async def redact_version(db: AsyncSession, store_id: str, version_id: str, actor: Actor) -> MemoryVersion:
    """Null a version's content, digest, size and path for good (idempotent)."""
    await get_store(db, store_id, lock=True)
    row = await get_version(db, store_id, version_id)
    if row.redacted_at is None:
        row.content = row.content_sha256 = row.path = None
        row.content_size_bytes = None
        row.redacted_at, row.redacted_by = utcnow(), dict(actor)
        db.add(row)
        await db.flush()
    return row


async def delete_store(db: AsyncSession, store_id: str) -> None:
    """Delete a store with every memory and version."""
    store = await get_store(db, store_id, lock=True)
    await db.exec(delete(Memory).where(col(Memory.memory_store_id) == store_id))
    await db.exec(delete(MemoryVersion).where(col(MemoryVersion.memory_store_id) == store_id))
    await db.delete(store)


def store_changes(row: MemoryStore, sent: Mapping[str, Any]) -> dict[str, Any]:
    """Column changes of a store update (``sent``: the keys the client sent, with values)."""
    changes: dict[str, Any] = {}
    if sent.get("name") is not None and sent["name"] != row.name:
        changes["name"] = sent["name"]
    if "description" in sent and (sent["description"] or "") != row.description:
        changes["description"] = sent["description"] or ""
    if sent.get("metadata") is not None:
        merged = dict(row.meta or {})
        for key, value in sent["metadata"].items():
            if value is None or value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != (row.meta or {}):
            changes["meta"] = merged
    return changes
