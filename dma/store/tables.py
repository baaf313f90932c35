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
    # The deployment whose fire created this session (null for sessions created directly).
    deployment_id: str | None = Field(default=None, max_length=64, index=True)
    # Next value of SessionEvent.seq; bumped under a row lock so commit order equals stream order.
    event_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    active_seconds: float = 0.0
    # When the current stretch of running began (null while idle); closed into active_seconds at each idle.
    running_since: datetime | None = _ts(nullable=True)
    # The workflow run that last started or took over a turn (``activities.events.start_running``, the reconcile of
    # a new run). A run an operator terminated or reset may still be finishing a model request in its worker (a local
    # activity outlives its workflow): its steps write nothing once another run holds the session.
    turn_run: str | None = Field(default=None, max_length=64)
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


class Vault(SQLModel, table=True):
    __tablename__ = "vaults"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=255)
    meta: JsonMap = _json()
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class VaultCredential(SQLModel, table=True):
    """A credential. ``auth`` holds only what responses show; the secrets are in ``sealed`` (``dma.crypto``).

    ``active_key`` is the identifying key (``mcp_server_url`` or ``secret_name``) while the credential is live and
    null once archived, so the unique constraint allows one live credential per key and vault. ``version`` moves on
    every change of ``sealed``: token refreshes and re-sealing compare and swap on it. ``refresh_lease`` and
    ``refresh_lease_until`` let one worker at a time refresh an OAuth token while the others wait for its result.
    """

    __tablename__ = "vault_credentials"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (UniqueConstraint("vault_id", "active_key", name="uq_vault_credentials_active_key"),)

    id: str = Field(primary_key=True, max_length=64)
    vault_id: str = Field(index=True, max_length=64)
    auth_type: str = Field(max_length=32)
    auth: JsonMap = _json()
    display_name: str | None = Field(default=None, max_length=255)
    meta: JsonMap = _json()
    active_key: str | None = Field(default=None, max_length=2048)
    sealed: str | None = Field(default=None)
    key_id: str | None = Field(default=None, max_length=32)
    version: int = 1
    refresh_lease: str | None = Field(default=None, max_length=64)
    refresh_lease_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Deployment(SQLModel, table=True):
    """A deployment: an agent version bound to an environment, initial events and an optional cron schedule.

    The DB is what clients read; the Temporal Schedule (id = the deployment id) owns the timing and mirrors
    ``schedule`` and the paused state. ``last_run_at`` keeps the schedule's last fire once the schedule is gone.
    """

    __tablename__ = "deployments"  # pyright: ignore[reportAssignmentType] - see ApiKey

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=256)
    description: str | None = Field(default=None)
    agent_id: str = Field(index=True, max_length=64)
    agent_version: int
    environment_id: str = Field(max_length=64)
    initial_events: list[JsonMap] = _json()
    meta: JsonMap = _json()
    vault_ids: list[str] = _json()
    resources: list[JsonMap] = _json()
    budget: JsonMap | None = _json(nullable=True)
    schedule: JsonMap | None = _json(nullable=True)
    status: str = Field(default="active", max_length=16)
    paused_reason: JsonMap | None = _json(nullable=True)
    last_run_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class SessionMcpTools(SQLModel, table=True):
    """The tool list of one MCP server as a session first saw it (fetched once, dropped when the agent changes)."""

    __tablename__ = "session_mcp_tools"  # pyright: ignore[reportAssignmentType] - see ApiKey

    session_id: str = Field(primary_key=True, max_length=64)
    server_name: str = Field(primary_key=True, max_length=255)
    server_url: str = Field(max_length=2048)
    tools: list[JsonMap] = _json()
    fetched_at: datetime = _ts()


class DeploymentRun(SQLModel, table=True):
    """One fire of a deployment: the session it created, or the typed error that stopped it (append-only).

    At most one run exists per ``(deployment_id, scheduled_at)``: a retried or re-run fire finds its run here. Manual
    runs have no ``scheduled_at`` (NULLs never collide in a unique constraint).
    """

    __tablename__ = "deployment_runs"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (UniqueConstraint("deployment_id", "scheduled_at", name="uq_deployment_runs_scheduled"),)

    id: str = Field(primary_key=True, max_length=64)
    deployment_id: str = Field(index=True, max_length=64)
    agent_id: str = Field(max_length=64)
    agent_version: int
    trigger_type: str = Field(max_length=16)
    scheduled_at: datetime | None = _ts(nullable=True)
    session_id: str | None = Field(default=None, max_length=64)
    error: JsonMap | None = _json(nullable=True)
    created_at: datetime = _ts(index=True)


class Wakeup(SQLModel, table=True):
    """A self-wakeup of a session.

    One-shot (``fire_at``; a timer in the session workflow) or recurring (``schedule``; a Temporal Schedule).
    ``status`` is ``pending`` until it fires for the last time or is cancelled.
    """

    __tablename__ = "wakeups"  # pyright: ignore[reportAssignmentType] - see ApiKey
    __table_args__ = (Index("ix_wakeups_session_status", "session_id", "status"),)

    id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    reason: str
    fire_at: datetime | None = _ts(nullable=True)
    schedule: JsonMap | None = _json(nullable=True)
    status: str = Field(default="pending", max_length=16)
    fire_count: int = 0
    last_fired_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
