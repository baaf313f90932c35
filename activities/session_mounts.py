"""What a session's sandbox shows besides its workspace, prepared before each tool call and collected after it.

Before the call (``prepare``): uploaded files of ``file`` resources, the agent's custom skills, the session's
memory stores (``memory_sync``) and the ``/mnt/session/outputs`` directory are laid out under the session's mounts
directory on this host, and ``github_repository`` resources are cloned (once) on the worker. The result is the
list of ``Mount`` s the sandbox must have; the sandbox manager rebuilds a sandbox whose mounts differ.

After the call (``collect``): changes the agent made to read-write memory mounts become memory versions, and files
in ``/mnt/session/outputs`` become session-scoped files of the Files API. Both return notes for the tool result when
something could not be stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import os
import posixpath
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.memory_sync import AttachedStore, MemorySync
from activities.repositories import CloneFailed, Repository, clone
from activities.sandboxes import hostfs
from activities.sandboxes.base import Mount
from activities.sandboxes.manager import SandboxManager
from dma.clock import utcnow
from dma.ids import new_id
from dma.schemas.common import NotFoundError
from dma.schemas.resources import OUTPUTS_DIR, SKILLS_DIR, UPLOADS_DIR
from dma.storage import BlobMissing, BlobStore
from dma.store import files as file_store
from dma.store import session_resources as resource_store
from dma.store import skills as skill_store
from dma.store.engine import Database
from dma.store.tables import Session, SessionResource, StoredFile

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What ``prepare`` laid out for one tool call."""

    mounts: list[Mount] = field(default_factory=list[Mount])
    stores: list[AttachedStore] = field(default_factory=list[AttachedStore])
    notes: list[str] = field(default_factory=list[str])


class SessionMounts:
    """Prepares and collects the mounts of this host's sandboxes (one instance per worker)."""

    def __init__(self, db: Database, storage: BlobStore, manager: SandboxManager, github_base_url: str) -> None:
        self._db = db
        self._storage = storage
        self._manager = manager
        self._github_base_url = github_base_url
        self._locks: dict[str, asyncio.Lock] = {}

    def _paths(self, session_id: str) -> tuple[Path, Path]:
        session_dir = self._manager.session_dir(session_id)
        return session_dir / "mounts", session_dir / "state"

    def _sync(self, session_id: str, owner: int | None) -> MemorySync:
        mounts, state = self._paths(session_id)
        return MemorySync(self._db, session_id, mounts, state, owner)

    async def prepare(self, session: Session) -> Prepared:
        """Lay out everything the session's sandbox mounts; returns the mounts and notes for the tool result."""
        async with self._locks.setdefault(session.id, asyncio.Lock()):
            mounts_dir = await self._manager.prepare_session_dir(session.id)
            owner = await self._manager.owner(session.id)
            _, state = self._paths(session.id)
            await asyncio.to_thread(_prepare_dirs, mounts_dir, state, owner)
            async with self._db.read() as db:
                resources = await resource_store.for_session(db, session.id)
            prepared = Prepared()
            prepared.mounts += [
                Mount(mounts_dir / "uploads", UPLOADS_DIR, True),
                Mount(mounts_dir / "outputs", OUTPUTS_DIR, False),
                Mount(mounts_dir / "skills", SKILLS_DIR, True),
            ]
            prepared.mounts += await self._files(mounts_dir, resources)
            await self._skills(session, mounts_dir, state)
            sync = self._sync(session.id, owner)
            for row in resources:
                if row.type == "memory_store":
                    attached = _attached(row)
                    await sync.materialize(attached)
                    prepared.stores.append(attached)
                    prepared.mounts.append(Mount(sync.directory(attached), row.body["mount_path"], attached.read_only))
                elif row.type == "github_repository":
                    mount, note = await self._repository(session.id, row, mounts_dir, state, owner)
                    prepared.mounts += [mount] if mount else []
                    prepared.notes += [note] if note else []
            return prepared

    async def _files(self, mounts_dir: Path, resources: list[SessionResource]) -> list[Mount]:
        """Copy each file resource in place; uploads under ``/mnt/session/uploads`` share one directory mount."""
        uploads, singles = mounts_dir / "uploads", mounts_dir / "files"
        wanted: set[str] = set()
        mounts: list[Mount] = []
        for row in resources:
            if row.type != "file":
                continue
            target = str(row.body["mount_path"])
            if target.startswith(UPLOADS_DIR + "/"):
                relative = target[len(UPLOADS_DIR) + 1 :]
                wanted.add(relative)
                host = uploads / relative
            else:
                host = singles / row.id
                mounts.append(Mount(host, target, True))
            await self._materialize_file(str(row.file_id), host)
        await asyncio.to_thread(_prune, uploads, wanted)
        return mounts

    async def _materialize_file(self, file_id: str, host: Path) -> None:
        async with self._db.read() as db:
            row = await file_store.get(db, file_id)
        if row is None:
            return
        marker = host.with_name(f".{host.name}.sha256")
        if await asyncio.to_thread(_reads, marker) == row.sha256 and host.exists():
            return
        await asyncio.to_thread(host.parent.mkdir, 0o755, True, True)
        try:
            await self._storage.save_to(row.sha256, host)
        except BlobMissing:
            logger.warning("file %s of a session resource has no content in storage", file_id)
            return
        await asyncio.to_thread(host.chmod, 0o644)
        await asyncio.to_thread(marker.write_text, row.sha256)

    async def _skills(self, session: Session, mounts_dir: Path, state: Path) -> None:
        """Lay out each custom skill of the agent at ``/mnt/skills/<name>/`` (rebuilt when its version changes)."""
        entries: list[dict[str, Any]] = (session.agent or {}).get("skills") or []
        for entry in entries:
            if entry.get("type") != "custom":
                continue
            async with self._db.read() as db:
                try:
                    version = await skill_store.get_version(db, str(entry["skill_id"]), str(entry["version"]))
                except NotFoundError:
                    # A skill deleted since the agent was saved is simply not mounted.
                    continue
                files = await skill_store.version_files(db, version.skill_id, version.id)
            marker = state / f"skill-{version.name}.version"
            if await asyncio.to_thread(_reads, marker) == f"{version.skill_id}/{version.id}":
                continue
            staging = state / f"skill-{version.name}.staging"
            await asyncio.to_thread(shutil.rmtree, staging, True)
            for item in files:
                relative = item.path.split("/", 1)[1]
                host = staging / relative
                await asyncio.to_thread(host.parent.mkdir, 0o755, True, True)
                await self._storage.save_to(item.sha256, host)
                await asyncio.to_thread(host.chmod, 0o644)
            await asyncio.to_thread(_swap_in, staging, mounts_dir / "skills" / version.name)
            await asyncio.to_thread(marker.write_text, f"{version.skill_id}/{version.id}")

    async def _repository(
        self, session_id: str, row: SessionResource, mounts_dir: Path, state: Path, owner: int | None
    ) -> tuple[Mount | None, str | None]:
        """Clone a repository resource once; a mount when it lives outside the workspace."""
        target = str(row.body["mount_path"])
        inside = target.startswith("/workspace/")
        host_root = self._manager.workspace(session_id) if inside else mounts_dir / "repos"
        relative = target[len("/workspace/") :] if inside else row.id
        mount = None if inside else Mount(host_root / relative, target, False)
        marker = state / f"repo-{row.id}.done"
        if await asyncio.to_thread(marker.exists):
            return mount, None
        async with self._db.read() as db:
            current = await db.get(SessionResource, row.id)
        token = current.secret if current is not None else None
        repository = Repository(url=str(row.body["url"]), checkout=row.body.get("checkout"), token=token)
        try:
            await asyncio.to_thread(host_root.mkdir, 0o755, True, True)
            await clone(repository, self._github_base_url, state, host_root, relative, owner)
        except (CloneFailed, OSError, TimeoutError) as err:
            logger.warning("clone of a repository resource of session %s failed", session_id)
            return None, f"[the repository {repository.url} could not be cloned: {err}; it is retried next call]"
        await asyncio.to_thread(marker.write_text, "")
        return mount, None

    async def collect(self, session: Session, prepared: Prepared) -> list[str]:
        """Store memory changes and outputs the tool call made; notes for whatever could not be stored."""
        async with self._locks.setdefault(session.id, asyncio.Lock()):
            owner = await self._manager.owner(session.id)
            sync = self._sync(session.id, owner)
            notes = list(prepared.notes)
            for attached in prepared.stores:
                notes += await sync.collect(attached)
            await self._outputs(session.id)
            return notes

    async def _outputs(self, session_id: str) -> None:
        """Files written under ``/mnt/session/outputs`` become (or update) session-scoped files."""
        mounts_dir, state = self._paths(session_id)
        outputs = mounts_dir / "outputs"
        record_file = state / "outputs.json"
        seen: dict[str, list[Any]] = await asyncio.to_thread(_read_json, record_file)
        entries = await asyncio.to_thread(hostfs.walk, outputs)
        changed = False
        for entry in entries:
            if seen.get(entry.path, [None, None])[:2] == [entry.size, entry.mtime_ns]:
                continue
            try:
                digest, size = await self._store_output(outputs, entry.path)
            except (hostfs.UnsafePath, OSError):
                continue
            await self._upsert_output(session_id, entry.path, digest, size)
            seen[entry.path] = [entry.size, entry.mtime_ns, digest]
            changed = True
        if changed:
            await asyncio.to_thread(_write_json, record_file, seen)

    async def _store_output(self, outputs: Path, relative: str) -> tuple[str, int]:
        fd = await asyncio.to_thread(hostfs.open_file, outputs, relative)
        writer = await self._storage.writer()
        try:
            with os.fdopen(fd, "rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, 1024 * 1024):
                    await writer.write(chunk)
            blob = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return blob.sha256, blob.size

    async def _upsert_output(self, session_id: str, relative: str, digest: str, size: int) -> None:
        name = posixpath.basename(relative)
        mime_type = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        async with self._db.write() as db:
            existing = (await file_store.outputs(db, session_id)).get(relative)
            if existing is not None:
                if existing.sha256 == digest:
                    return
                existing.sha256, existing.size_bytes, existing.mime_type = digest, size, mime_type
                db.add(existing)
                return
            db.add(
                StoredFile(
                    id=new_id("file"),
                    filename=name[:255],
                    mime_type=mime_type,
                    size_bytes=size,
                    sha256=digest,
                    downloadable=True,
                    scope_id=session_id,
                    output_path=relative,
                    created_at=utcnow(),
                )
            )


def _attached(row: SessionResource) -> AttachedStore:
    return AttachedStore(
        store_id=str(row.memory_store_id),
        name=str(row.body.get("name", "")),
        read_only=row.body.get("access") == "read_only",
    )


def _prepare_dirs(mounts_dir: Path, state: Path, owner: int | None) -> None:
    state.mkdir(mode=0o700, exist_ok=True)
    for name in ("uploads", "skills", "files", "repos"):
        (mounts_dir / name).mkdir(mode=0o755, exist_ok=True)
    outputs = mounts_dir / "outputs"
    if not outputs.exists():
        outputs.mkdir(mode=0o700)
        if owner is not None:
            os.chown(outputs, owner, owner)
        else:
            outputs.chmod(0o777)


def _reads(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _prune(uploads: Path, wanted: set[str]) -> None:
    """Remove uploads no resource names any more (the directory is the worker's: plain file calls are safe)."""
    for path in sorted(uploads.rglob("*"), reverse=True):
        relative = path.relative_to(uploads).as_posix()
        if path.is_file() and not path.name.startswith(".") and relative not in wanted:
            path.unlink()
            path.with_name(f".{path.name}.sha256").unlink(missing_ok=True)


def _swap_in(staging: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _read_json(path: Path) -> dict[str, list[Any]]:
    try:
        loaded: dict[str, list[Any]] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, value: dict[str, list[Any]]) -> None:
    temporary = path.with_suffix(".part")
    temporary.write_text(json.dumps(value))
    temporary.replace(path)
