"""Typed settings for each process, read once in the entrypoints.

Each process declares only what it needs (``ApiSettings``, ``WorkerSettings``), so provider keys never enter the
API process. Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".dma")
MIB = 1024 * 1024


def normalize_database_url(url: str) -> str:
    """Map user-facing database URLs onto the async drivers dma uses.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://`` (psycopg 3 serves both sync and async);
    ``sqlite:///`` becomes ``sqlite+aiosqlite:///``.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class CommonSettings(BaseSettings):
    """What every dma process needs: where the data, the database and Temporal are."""

    model_config = SettingsConfigDict(env_prefix="DMA_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "dma-sessions"
    log_level: str = "INFO"
    # Workflow input, recorded in history: whoever starts a session workflow (the API, or a reconciler in the API or
    # a worker) passes them, so every process that starts workflows reads the same values.
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    # User events still queued this long after they were accepted are handed to their workflow again (a delivery
    # that was lost: a process died after the commit, Temporal was unreachable); the reconciler also runs this often.
    redelivery_seconds: float = Field(default=3.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value) if value else value

    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dma.db').resolve()}"


class ApiSettings(CommonSettings):
    """Settings of the API façade (``dma api``)."""

    host: str = "127.0.0.1"
    port: int = 8787
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    # Keyless mode exists only for ``dma dev`` on loopback; the entrypoint refuses it elsewhere.
    dev_keyless: bool = False
    # How often SSE readers re-read the DB besides waking on the bus (Unix sockets in the data dir on SQLite,
    # LISTEN/NOTIFY on PostgreSQL), so the poll is only a safety net for a lost doorbell. Empty: 1 s.
    sse_poll_seconds: float | None = None
    # What one client event, and all the events of one request, may weigh as stored (JSON). The request default is
    # the Messages API's own request limit: nothing larger could ever reach a model.
    max_event_bytes: int = Field(default=16 * MIB, ge=1)
    max_request_event_bytes: int = Field(default=32 * MIB, ge=1)

    def max_body_bytes(self) -> int:
        """Request bodies beyond this are refused unread (413).

        Twice the events limit, so that requests merely over an events limit get its precise 400 (a body may also
        weigh more than its events: JSON escapes and the envelope).
        """
        return 2 * self.max_request_event_bytes

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value


class WorkerSettings(CommonSettings):
    """Settings of a worker (``dma worker``): provider credentials live only here."""

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "DMA_ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "DMA_ANTHROPIC_BASE_URL")
    )
    model_max_tokens: int = 8192
    max_concurrent_activities: int = 200
    # This worker's sandbox host id; its tool activities arrive on ``sandbox@<host_name>``. Empty: a fresh id per
    # worker, so a restarted worker is a new host. A stable name lets a restarted worker keep its sandboxes' queue.
    host_name: str = ""
    sandbox_backend: Literal["bwrap", "docker"] = "bwrap"
    sandbox_idle_seconds: float = 900.0
    sandbox_image: str = "dma-sandbox:latest"
    # Package mirrors sandboxes use instead of the public registries (``PIP_INDEX_URL`` / ``npm_config_registry``
    # inside them; their hosts count as package registries for ``allow_package_managers``).
    pip_index_url: str | None = None
    npm_registry_url: str | None = None
    # More of the control plane that sandboxes may never reach, as ``host:port`` (say the API's public address);
    # Temporal, a PostgreSQL database and every address of this host are refused without being listed.
    control_plane_endpoints: Annotated[list[str], NoDecode] = Field(default_factory=list[str])

    @field_validator("control_plane_endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def resolved_host_name(self) -> str:
        """The configured host id, or a new one unique to this worker (call once per worker)."""
        unique = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        return self.host_name or unique
