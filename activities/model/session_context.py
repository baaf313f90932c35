"""What a model request needs from the session besides its events: the system prompt and the bytes of file blocks.

The system prompt is the agent's own, followed by what the session's sandbox offers: the agent's skills (name,
description and where their ``SKILL.md`` is, so the model reads one with ``read`` when a task calls for it, as
Claude's skills work), the memory stores mounted under ``/mnt/memory`` with their descriptions and instructions,
the files and repositories attached to the session, and where to leave files for the user.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.model.context import FileSources, named_file
from dma.clock import as_utc, utcnow
from dma.schemas.common import NotFoundError
from dma.schemas.resources import OUTPUTS_DIR, SKILLS_DIR
from dma.storage import BlobMissing, BlobStore
from dma.store import files as file_store
from dma.store import session_resources as resource_store
from dma.store import skills as skill_store
from dma.store.engine import Database
from dma.store.tables import Session, SessionEvent

# File blocks larger than this are not inlined into a request (the Messages API's own request limit is 32 MB).
MAX_INLINE_BYTES = 20 * 1024 * 1024


async def _skill_lines(db: AsyncSession, agent: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    entries: list[dict[str, Any]] = agent.get("skills") or []
    for entry in entries:
        if entry.get("type") != "custom":
            continue
        try:
            version = await skill_store.get_version(db, str(entry["skill_id"]), str(entry["version"]))
        except NotFoundError:
            continue
        path = f"{SKILLS_DIR}/{version.name}/SKILL.md"
        lines.append(f"- {version.name}: {version.description} (read {path} before using it)")
    return lines


def _skills_section(lines: list[str]) -> str:
    head = (
        "# Skills\nThese skills are installed as folders under /mnt/skills. When a task matches one, read its "
        "SKILL.md with the read tool first and follow it; it may point to more files in its folder."
    )
    return "\n".join([head, *lines])


def _memory_section(stores: list[dict[str, Any]]) -> str:
    parts = [
        "# Memory\nThese memory stores are directories you can use with your file tools and bash. What you keep "
        "there persists across sessions; read what is relevant before you start."
    ]
    for store in stores:
        access = "read-only" if store.get("access") == "read_only" else "read-write"
        line = f"- {store.get('mount_path')} ({access}): {store.get('name', '')}"
        if store.get("description"):
            line += f" — {store['description']}"
        parts.append(line)
        if store.get("instructions"):
            parts.append(f"  Instructions: {store['instructions']}")
    return "\n".join(parts)


def _resources_section(resources: Iterable[dict[str, Any]]) -> str:
    lines = ["# Session files"]
    for resource in resources:
        if resource.get("type") == "file":
            lines.append(f"- {resource['mount_path']} (read-only; file {resource['file_id']})")
        elif resource.get("type") == "github_repository":
            lines.append(f"- {resource['mount_path']}: a clone of {resource['url']}")
    lines.append(f"Save files meant for the user under {OUTPUTS_DIR}; they can download them after your turn.")
    return "\n".join(lines)


async def system_prompt(db: AsyncSession, session_id: str, agent: dict[str, Any]) -> str | None:
    """The system prompt of the session's next model request (None when there is nothing to say)."""
    sections: list[str] = [str(agent["system"])] if agent.get("system") else []
    if skill_lines := await _skill_lines(db, agent):
        sections.append(_skills_section(skill_lines))
    resources = [dict(row.body) for row in await resource_store.for_session(db, session_id)]
    stores = [resource for resource in resources if resource.get("type") == "memory_store"]
    if stores:
        sections.append(_memory_section(stores))
    if any(resource.get("type") in ("file", "github_repository") for resource in resources):
        sections.append(_resources_section(resources))
    return "\n\n".join(sections) or None


def referenced_files(rows: Iterable[SessionEvent]) -> set[str]:
    """Ids of the files that image and document blocks of user messages name."""
    found: set[str] = set()
    for row in rows:
        if row.type != "user.message":
            continue
        blocks: list[object] = row.body.get("content") or []
        found.update(file_id for block in blocks if (file_id := named_file(block)) is not None)
    return found


async def file_sources(db: AsyncSession, storage: BlobStore | None, file_ids: set[str]) -> FileSources:
    """A Messages API source for each file that can be inlined (base64, or text for text files)."""
    sources: FileSources = {}
    if storage is None:
        return sources
    for file_id in sorted(file_ids):
        row = await file_store.get(db, file_id)
        if row is None or row.size_bytes > MAX_INLINE_BYTES:
            continue
        if row.expires_at is not None and as_utc(row.expires_at) <= utcnow():
            continue
        try:
            data = await storage.read(row.sha256)
        except BlobMissing:
            continue
        if row.mime_type.startswith("text/"):
            text = data.decode("utf-8", errors="replace")
            sources[file_id] = {"type": "text", "media_type": "text/plain", "data": text}
        else:
            encoded = base64.b64encode(data).decode()
            sources[file_id] = {"type": "base64", "media_type": row.mime_type, "data": encoded}
    return sources


@dataclass(frozen=True)
class SessionContext:
    """What a model step reads before it takes the session lock."""

    system: str | None
    files: FileSources


class FileRefs:
    """The file ids each session's processed user messages name, up to a stream position (one per worker).

    Processed events never change and are exactly ``seq`` 1 … ``Session.event_seq``, so a step only reads the user
    messages after the position it saw last, and the ones still queued.
    """

    def __init__(self, max_sessions: int = 4096) -> None:
        self._seen: OrderedDict[str, tuple[int, frozenset[str]]] = OrderedDict()
        self._max_sessions = max_sessions

    async def referenced(self, db: AsyncSession, session: Session) -> set[str]:
        """The file ids named by the session's user messages, processed or queued."""
        after, known = self._seen.pop(session.id, (0, frozenset[str]()))
        if after > session.event_seq:  # the log is shorter than what was seen: trust nothing kept
            after, known = 0, frozenset[str]()
        statement = select(SessionEvent).where(
            SessionEvent.session_id == session.id,
            SessionEvent.type == "user.message",
            or_(col(SessionEvent.seq).is_(None), col(SessionEvent.seq) > after),
        )
        rows = list((await db.exec(statement)).all())
        settled = referenced_files(row for row in rows if row.seq is not None and row.seq <= session.event_seq)
        self._seen[session.id] = (session.event_seq, known | settled)
        while len(self._seen) > self._max_sessions:
            self._seen.popitem(last=False)
        return set(known) | referenced_files(rows)


class OutsideReads:
    """Sessions whose context a step reads before it takes the session lock (one worker's memory, bounded).

    Those whose messages name files (their bytes may come from S3) or whose agent has custom skills (two reads
    each, up to 64 skills): the session lock is held by one step at a time, and on SQLite it holds every writer.
    """

    def __init__(self, max_sessions: int = 4096) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max_sessions = max_sessions

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._ids

    def add(self, session_id: str) -> None:
        self._ids[session_id] = None
        while len(self._ids) > self._max_sessions:
            self._ids.popitem(last=False)


def _has_custom_skills(agent: dict[str, Any]) -> bool:
    entries: list[dict[str, Any]] = agent.get("skills") or []
    return any(entry.get("type") == "custom" for entry in entries)


async def locked_context(db: AsyncSession, session: Session, refs: FileRefs) -> SessionContext | None:
    """The context read inside the step's own locked transaction: one transaction per step instead of two.

    None for a session whose reads belong outside the lock (``OutsideReads``): then ``session_context`` reads it.
    """
    agent = dict(session.agent or {})
    if _has_custom_skills(agent) or await refs.referenced(db, session):
        return None
    return SessionContext(await system_prompt(db, session.id, agent), {})


async def session_context(
    db: Database, storage: BlobStore | None, session_id: str, refs: FileRefs | None = None
) -> SessionContext:
    """The system prompt and file sources of the session's next request (read outside the session lock).

    File ids come from the session's user messages (the only events whose blocks name files), not the whole log.
    """
    async with db.read() as session:
        row = await session.get(Session, session_id)
        if row is None:
            return SessionContext(None, {})
        system = await system_prompt(session, session_id, dict(row.agent or {}))
        file_ids = await (refs or FileRefs()).referenced(session, row)
        files = await file_sources(session, storage, file_ids)
    return SessionContext(system, files)
