"""SQLModel tables. The DB is the source of truth for everything a client can read (DESIGN.md §2).

Wire-shaped parts of a resource (an agent's tools, an environment's config, an event's payload) are stored as JSON in
their response form, already normalized by ``dma.schemas``, so reads never re-derive them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

JsonMap = dict[str, Any]


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"  # pyright: ignore[reportAssignmentType] - SQLModel declares it as a callable

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=256)
    key_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class Agent(SQLModel, table=True):
    __tablename__ = "agents"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    version: int = 1
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class AgentVersion(SQLModel, table=True):
    """An immutable snapshot: ``body`` holds every response field but id, type, version and timestamps."""

    __tablename__ = "agent_versions"  # pyright: ignore[reportAssignmentType] - see ApiKey

    agent_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    body: JsonMap = _json()
    created_at: datetime = _ts()


class Environment(SQLModel, table=True):
    __tablename__ = "environments"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=256)
    description: str | None = Field(default=None)
    config: JsonMap = _json()
    meta: JsonMap = _json()
    scope: str | None = Field(default=None, max_length=32)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Session(SQLModel, table=True):
    """A session row. The API writes it at creation; afterwards activities keep ``status`` and ``usage`` current."""

    __tablename__ = "sessions"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (
        Index(
            "ix_sessions_redeliver_at",
            "redeliver_at",
            sqlite_where=text("redeliver_at IS NOT NULL"),
            postgresql_where=text("redeliver_at IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(index=True, max_length=64)
    agent_version: int
    agent: JsonMap = _json()
    environment_id: str = Field(max_length=64)
    environment_config: JsonMap = _json()
    title: str | None = Field(default=None)
    meta: JsonMap = _json()
    status: str = Field(default="idle", max_length=16, index=True)
    usage: JsonMap = _json()
    vault_ids: list[str] = _json()
    resources: list[JsonMap] = _json()
    budget: JsonMap | None = _json(nullable=True)
    # The list cost of every model request so far, in exact micro-dollars (usage.list_cost shows whole cents).
    cost_micro_usd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0"))
    # Next value of SessionEvent.seq; bumped under a row lock so commit order equals stream order.
    event_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    active_seconds: float = 0.0
    # When the current stretch of running began (null while idle); closed into active_seconds at each idle.
    running_since: datetime | None = _ts(nullable=True)
    # When the reconciler next hands this session's waiting user events to its workflow again (api/redelivery.py);
    # null: as soon as a queued event is older than the grace period.
    redeliver_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class SessionEvent(SQLModel, table=True):
    """The append-only session event log.

    ``seq`` is the per-session stream position, assigned when the event becomes visible (its ``processed_at`` is set):
    server events get it on insert, user events when the workflow processes them. Lists order by it (that is
    ``processed_at`` order) and SSE readers resume after it. ``run``, ``step`` and ``extra`` are private bookkeeping
    of the activity that wrote the event (never sent to clients): the workflow run and the step it allocated.
    A tool result written while an earlier call of the same model response has none yet stays hidden (no ``seq``)
    until it can be shown in the model's order.
    """

    __tablename__ = "session_events"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_session_events_seq"),
        Index("ix_session_events_session_pos", "session_id", "pos"),
        Index("ix_session_events_session_run_step", "session_id", "run", "step"),
        Index("ix_session_events_session_ref", "session_id", "ref"),
        # Queued user events only (a handful at any time): what the reconciler and "is a turn about to run?" read.
        Index(
            "ix_session_events_queued",
            "session_id",
            "created_at",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    pos: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    session_id: str = Field(max_length=64)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    type: str = Field(max_length=64)
    body: JsonMap = _json()
    processed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    run: str | None = Field(default=None, max_length=64)
    step: int | None = Field(default=None)
    # The tool use an answer or a result refers to (tool_use_id / custom_tool_use_id), to find answered calls.
    ref: str | None = Field(default=None, max_length=64)
    extra: JsonMap | None = _json(nullable=True)


class StoredFile(SQLModel, table=True):
    """A file of the Files API: an upload, or a file a session wrote under ``/mnt/session/outputs``.

    ``sha256`` names its blob in ``dma.storage``; ``output_path`` is where a session output sits below the outputs
    directory (one row per path, rewritten when the session changes the file).
    """

    __tablename__ = "files"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (
        Index("ix_files_scope", "scope_id", "output_path"),
        Index("ix_files_sha256", "sha256"),
    )

    id: str = Field(primary_key=True, max_length=64)
    filename: str = Field(sa_column=Column(Text, nullable=False))
    mime_type: str = Field(max_length=255)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    downloadable: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    scope_id: str | None = Field(default=None, max_length=64)
    output_path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts(index=True)
    expires_at: datetime | None = _ts(nullable=True)


class MemoryStore(SQLModel, table=True):
    __tablename__ = "memory_stores"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    meta: JsonMap = _json()
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Memory(SQLModel, table=True):
    """The current state of one memory; its history is in ``memory_versions``."""

    __tablename__ = "memories"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (UniqueConstraint("memory_store_id", "path", name="uq_memories_path"),)

    id: str = Field(primary_key=True, max_length=64)
    memory_store_id: str = Field(max_length=64, index=True)
    path: str = Field(sa_column=Column(Text, nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_sha256: str = Field(max_length=64)
    content_size_bytes: int
    memory_version_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class MemoryVersion(SQLModel, table=True):
    """An immutable record of one write; redaction nulls its content fields but keeps the record."""

    __tablename__ = "memory_versions"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (
        Index("ix_memory_versions_store_created", "memory_store_id", "created_at"),
        Index("ix_memory_versions_memory", "memory_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    memory_store_id: str = Field(max_length=64)
    memory_id: str = Field(max_length=64)
    operation: str = Field(max_length=16)
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    content_sha256: str | None = Field(default=None, max_length=64)
    content_size_bytes: int | None = None
    path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: JsonMap | None = _json(nullable=True)
    # The actor's id by kind, for the list filters (``session_id=``, ``api_key_id=``).
    session_id: str | None = Field(default=None, max_length=64, index=True)
    api_key_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    redacted_at: datetime | None = _ts(nullable=True)
    redacted_by: JsonMap | None = _json(nullable=True)


class Skill(SQLModel, table=True):
    __tablename__ = "skills"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=255)
    # The kebab-case slug from SKILL.md; every version keeps it.
    name: str = Field(max_length=64)
    source: str = Field(default="custom", max_length=32)
    latest_version_id: str = Field(max_length=64)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()


class SkillVersion(SQLModel, table=True):
    """One upload of a skill; its files are ``skill_files`` rows."""

    __tablename__ = "skill_versions"  # pyright: ignore[reportAssignmentType] - see ApiKey

    skill_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=64)
    description: str = Field(sa_column=Column(Text, nullable=False))
    directory: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()


class SkillFile(SQLModel, table=True):
    """One file of a skill version: its path below the skill's directory and the digest of its blob."""

    __tablename__ = "skill_files"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (Index("ix_skill_files_sha256", "sha256"),)

    skill_id: str = Field(primary_key=True, max_length=64)
    version_id: str = Field(primary_key=True, max_length=64)
    path: str = Field(sa_column=Column(Text, primary_key=True))
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))


class SessionResource(SQLModel, table=True):
    """A resource of a session (``sessions.resources``); ``body`` is its response form minus id and timestamps.

    ``secret`` holds a repository's ``authorization_token``: read only by the worker that clones, never returned.
    """

    __tablename__ = "session_resources"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (
        Index("ix_session_resources_session", "session_id", "position"),
        Index("ix_session_resources_memory_store", "memory_store_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64)
    position: int
    type: str = Field(max_length=32)
    file_id: str | None = Field(default=None, max_length=64)
    memory_store_id: str | None = Field(default=None, max_length=64)
    body: JsonMap = _json()
    secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
