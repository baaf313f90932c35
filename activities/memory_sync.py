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

    def _load_base(self, attached: AttachedStore) -> dict[str, str]:
        try:
            loaded: dict[str, str] = json.loads(self._base_file(attached).read_text())
            return loaded
        except (OSError, ValueError):
            return {}

    def _save_base(self, attached: AttachedStore, base: dict[str, str]) -> None:
        path = self._base_file(attached)
        temporary = path.with_suffix(".part")
        temporary.write_text(json.dumps(base, sort_keys=True))
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

    def _files(self, directory: Path) -> dict[str, str]:
        """Digest of every regular file in the mount (what the sandbox sees)."""
        return {entry.path: hostfs.digest_file(directory, entry.path)[0] for entry in hostfs.walk(directory)}

    async def materialize(self, attached: AttachedStore) -> None:
        """Bring the mount up to the stored memories, keeping files the agent changed since the last sync."""
        directory = await asyncio.to_thread(self._prepare, attached)
        async with self._db.read() as db:
            stored = {row.path: row for row in await store.all_memories(db, attached.store_id)}
        await asyncio.to_thread(
            self._apply, attached, directory, {p: (r.content, r.content_sha256) for p, r in stored.items()}
        )

    def _apply(self, attached: AttachedStore, directory: Path, stored: dict[str, tuple[str, str]]) -> None:
        base = self._load_base(attached)
        files = self._files(directory)
        owner = None if attached.read_only else self._owner
        for path, (content, digest) in stored.items():
            relative = path[1:]
            if base.get(relative) == digest and files.get(relative) == digest:
                continue
            untouched = files.get(relative) == base.get(relative)
            if untouched or attached.read_only:
                hostfs.write_file(directory, relative, content.encode(), owner)
                base[relative] = digest
        for relative in list(base):
            if _memory_path(relative) not in stored and files.get(relative) in (base[relative], None):
                hostfs.remove_file(directory, relative)
                del base[relative]
        self._save_base(attached, base)

    async def collect(self, attached: AttachedStore) -> list[str]:
        """Store what the agent changed in a read-write mount; a note for each change that could not be stored."""
        if attached.read_only:
            return []
        directory = self.directory(attached)
        base = await asyncio.to_thread(self._load_base, attached)
        entries = await asyncio.to_thread(hostfs.walk, directory)
        notes: list[str] = []
        present: set[str] = set()
        for entry in entries:
            present.add(entry.path)
            note = await self._collect_file(attached, directory, base, entry)
            if note:
                notes.append(note)
        for relative in [path for path in base if path not in present]:
            note = await self._delete(attached, base, relative)
            if note:
                notes.append(note)
        await asyncio.to_thread(self._save_base, attached, base)
        return notes

    async def _collect_file(
        self, attached: AttachedStore, directory: Path, base: dict[str, str], entry: hostfs.Entry
    ) -> str | None:
        path = f"/mnt/memory/{attached.slug}/{entry.path}"
        data = await asyncio.to_thread(hostfs.read_file, directory, entry.path, MAX_CONTENT_BYTES)
        if data is None:
            return f"{path} is larger than {MAX_CONTENT_BYTES} bytes, the most a memory holds: it was not saved."
        digest = sha256_hex(data)
        if base.get(entry.path) == digest:
            return None
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"{path} is not UTF-8 text, which memories must be: it was not saved."
        try:
            async with self._db.write() as db:
                if entry.path in base:
                    memory = await store.by_path(db, attached.store_id, _memory_path(entry.path))
                    if memory is None:
                        raise store_conflict("was deleted by another writer")
                    change = MemoryChange(content=content, expected=base[entry.path])
                    await store.update_memory(db, attached.store_id, memory.id, change, self._actor)
                else:
                    await store.create_memory(db, attached.store_id, _memory_path(entry.path), content, self._actor)
        except DomainError as err:
            await self._reset(attached, directory, base, entry.path)
            why = (
                " Another session or client changed this memory after this session read it."
                if isinstance(err, ConflictError)
                else ""
            )
            return (
                f"{path} was not saved to memory store {attached.name!r}: {err.message}.{why} The file now holds "
                "the stored version: read it again and redo your change if it still applies."
            )
        base[entry.path] = digest
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
