"""Keeps a session's memory-store mounts and the database (the source of truth) in step, around each tool call.

Before a tool call, ``materialize`` writes every memory whose stored digest changed since this session last synced it
into ``<mounts>/memory/<slug>/<path>``, unless the agent has changed that file itself (then its change is pending
and ``collect`` decides). After the call, ``collect`` compares the files with the digests recorded at the last sync
(the *base*): a new file creates a memory, a changed one updates it with ``content_sha256 == base`` as the
precondition, a removed one deletes it under the same precondition. Each write is a memory version whose actor is the
session. When another writer got there first (another session, the API), the precondition or path rule fails: the
change is not stored, the file is reset to the stored content, and the tool result tells the agent, so a write is
never lost silently. The base lives in ``<session dir>/state`` on the worker; a new host starts from the database.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.sandboxes import hostfs
from dma.schemas.common import ConflictError, DomainError
from dma.schemas.memory import MAX_CONTENT_BYTES, MemoryPreconditionFailed, mount_slug
from dma.storage import sha256_hex
from dma.store import memory as store
from dma.store.engine import Database
from dma.store.memory import MemoryChange


@dataclass(frozen=True)
class AttachedStore:
    """A memory store as one session mounts it."""

    store_id: str
    name: str
    read_only: bool

    @property
    def slug(self) -> str:
        return mount_slug(self.name)


def _memory_path(relative: str) -> str:
    return "/" + relative


@dataclass
class _State:
    """What this host last synced: ``base`` (path → stored digest) and ``seen`` (path → size, mtime, digest)."""

    base: dict[str, str]
    seen: dict[str, list[Any]]


class MemorySync:
    """The sync of one session's memory mounts (one instance per tool call; the caller serializes calls)."""

    def __init__(self, db: Database, session_id: str, mounts: Path, state: Path, owner: int | None) -> None:
        self._db = db
        self._session_id = session_id
        self._mounts = mounts
        self._state = state
        self._owner = owner
        self._actor = {"type": "session_actor", "session_id": session_id}

    def directory(self, attached: AttachedStore) -> Path:
        """The host directory shown at ``/mnt/memory/<slug>``."""
        return self._mounts / "memory" / attached.slug

    def _base_file(self, attached: AttachedStore) -> Path:
        return self._state / f"memory-{attached.store_id}.json"

    def _load(self, attached: AttachedStore) -> _State:
        try:
            loaded: dict[str, Any] = json.loads(self._base_file(attached).read_text())
        except (OSError, ValueError):
            return _State({}, {})
        return _State(dict(loaded.get("base", {})), dict(loaded.get("seen", {})))

    def _save(self, attached: AttachedStore, state: _State) -> None:
        path = self._base_file(attached)
        temporary = path.with_suffix(".part")
        temporary.write_text(json.dumps({"base": state.base, "seen": state.seen}, sort_keys=True))
        temporary.replace(path)

    def _prepare(self, attached: AttachedStore) -> Path:
        self._state.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory = self.directory(attached)
        (self._mounts / "memory").mkdir(mode=0o755, exist_ok=True)
        if not directory.exists():
            directory.mkdir(mode=0o755)
            if not attached.read_only and self._owner is not None:
                os.chown(directory, self._owner, self._owner)
                directory.chmod(0o700)
            elif not attached.read_only:
                directory.chmod(0o777)
        return directory

    @staticmethod
    def _files(directory: Path, state: _State) -> dict[str, str]:
        """Digest of every regular file in the mount; files whose size and mtime are unchanged are not re-read."""
        files: dict[str, str] = {}
        seen: dict[str, list[Any]] = {}
        for entry in hostfs.walk(directory):
            cached = state.seen.get(entry.path)
            if cached is not None and cached[:2] == [entry.size, entry.mtime_ns]:
                digest = str(cached[2])
            else:
                digest = hostfs.digest_file(directory, entry.path)[0]
            files[entry.path] = digest
            seen[entry.path] = [entry.size, entry.mtime_ns, digest]
        state.seen = seen
        return files

    async def materialize(self, attached: AttachedStore) -> None:
        """Bring the mount up to the stored memories, keeping files the agent changed since the last sync.

        Only digests are read for every memory; contents only for the memories that must be written.
        """
        directory = await asyncio.to_thread(self._prepare, attached)
        async with self._db.read() as db:
            stored = await store.digests(db, attached.store_id)
        state = await asyncio.to_thread(self._load, attached)
        files = await asyncio.to_thread(self._files, directory, state)
        writes = [path for path, digest in stored.items() if self._should_write(attached, state, files, path, digest)]
        contents: dict[str, str] = {}
        if writes:
            async with self._db.read() as db:
                contents = await store.contents(db, attached.store_id, writes)
        await asyncio.to_thread(self._apply, attached, directory, state, files, stored, contents)

    @staticmethod
    def _should_write(attached: AttachedStore, state: _State, files: dict[str, str], path: str, digest: str) -> bool:
        relative = path[1:]
        if state.base.get(relative) == digest and files.get(relative) == digest:
            return False
        return attached.read_only or files.get(relative) == state.base.get(relative)

    def _apply(
        self,
        attached: AttachedStore,
        directory: Path,
        state: _State,
        files: dict[str, str],
        stored: dict[str, str],
        contents: dict[str, str],
    ) -> None:
        owner = None if attached.read_only else self._owner
        for path, content in contents.items():
            relative = path[1:]
            hostfs.write_file(directory, relative, content.encode(), owner)
            state.base[relative] = stored[path]
            state.seen.pop(relative, None)
        for relative in list(state.base):
            if _memory_path(relative) not in stored and files.get(relative) in (state.base[relative], None):
                hostfs.remove_file(directory, relative)
                del state.base[relative]
        self._save(attached, state)

    async def collect(self, attached: AttachedStore) -> list[str]:
        """Store what the agent changed in a read-write mount; a note for each change that could not be stored."""
        if attached.read_only:
            return []
        directory = self.directory(attached)
        state = await asyncio.to_thread(self._load, attached)
        files = await asyncio.to_thread(self._files, directory, state)
        base = state.base
        notes: list[str] = []
        for relative, digest in files.items():
            if base.get(relative) != digest and (note := await self._collect_file(attached, directory, base, relative)):
                notes.append(note)
        for relative in [path for path in base if path not in files]:
            if note := await self._delete(attached, base, relative):
                notes.append(note)
        await asyncio.to_thread(self._save, attached, state)
        return notes

    async def _collect_file(
        self, attached: AttachedStore, directory: Path, base: dict[str, str], relative: str
    ) -> str | None:
        path = f"/mnt/memory/{attached.slug}/{relative}"
        data = await asyncio.to_thread(hostfs.read_file, directory, relative, MAX_CONTENT_BYTES)
        if data is None:
            return f"{path} is larger than {MAX_CONTENT_BYTES} bytes, the most a memory holds: it was not saved."
        digest = sha256_hex(data)
        if base.get(relative) == digest:
            return None
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"{path} is not UTF-8 text, which memories must be: it was not saved."
        try:
            async with self._db.write() as db:
                if relative in base:
                    memory = await store.by_path(db, attached.store_id, _memory_path(relative))
                    if memory is None:
                        raise store_conflict("was deleted by another writer")
                    change = MemoryChange(content=content, expected=base[relative])
                    await store.update_memory(db, attached.store_id, memory.id, change, self._actor)
                else:
                    await store.create_memory(db, attached.store_id, _memory_path(relative), content, self._actor)
        except DomainError as err:
            await self._reset(attached, directory, base, relative)
            why = (
                " Another session or client changed this memory after this session read it."
                if isinstance(err, ConflictError)
                else ""
            )
            return (
                f"{path} was not saved to memory store {attached.name!r}: {err.message}.{why} The file now holds "
                "the stored version: read it again and redo your change if it still applies."
            )
        base[relative] = digest
        return None

    async def _delete(self, attached: AttachedStore, base: dict[str, str], relative: str) -> str | None:
        try:
            async with self._db.write() as db:
                memory = await store.by_path(db, attached.store_id, _memory_path(relative))
                if memory is not None:
                    await store.delete_memory(db, attached.store_id, memory.id, base[relative], self._actor)
        except DomainError as err:
            await self._reset(attached, self.directory(attached), base, relative)
            return (
                f"/mnt/memory/{attached.slug}/{relative} was not deleted from memory store {attached.name!r}: "
                f"{err.message}. It was changed by another writer; the file holds the stored version again."
            )
        del base[relative]
        return None

    async def _reset(self, attached: AttachedStore, directory: Path, base: dict[str, str], relative: str) -> None:
        """Show the stored state of one path again after a refused change."""
        async with self._db.read() as db:
            memory = await store.by_path(db, attached.store_id, _memory_path(relative))
        if memory is None:
            await asyncio.to_thread(hostfs.remove_file, directory, relative)
            base.pop(relative, None)
            return
        await asyncio.to_thread(hostfs.write_file, directory, relative, memory.content.encode(), self._owner)
        base[relative] = memory.content_sha256


def store_conflict(reason: str) -> DomainError:
    """A conflict found by the sync itself (the memory vanished under it)."""
    return MemoryPreconditionFailed(f"the memory {reason}")
