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

from dma.crypto import Keyring

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
    # Quiet by default: warnings, plus one line per session turn (``dma.cli.logs``); INFO or DEBUG show more.
    log_level: str = "WARNING"
    # Workflow input, recorded in history: whoever starts a session workflow (the API, a reconciler, a deployment
    # fire or a wakeup on a worker) passes them, so every process that starts workflows reads the same values.
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    # Attempts per MCP tool call while its server cannot be reached, before the turn ends with retries_exhausted.
    mcp_max_attempts: int = 6
    # User events still queued this long after they were accepted are handed to their workflow again (a delivery
    # that was lost: a process died after the commit, Temporal was unreachable); the reconciler also runs this often.
    redelivery_seconds: float = Field(default=3.0, gt=0)
    # Where file, skill and session-output bytes live (``dma.storage``). Every API and worker of one installation
    # must reach the same store: a local directory works when they share a host (as SQLite requires anyway).
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Extra providers and per-model settings (TOML, see docs/providers.md). Both processes read it: the API to
    # validate model ids and budgets, the worker to route requests. It names key variables, never keys.
    providers_file: Path | None = None
    # Each scheduled fire starts up to this many seconds after its cron time (Temporal's jitter), so deployments
    # sharing a minute do not all start at once. Below 60: upcoming run times are the cron minutes themselves.
    schedule_jitter_seconds: Annotated[int, Field(ge=0, le=59)] = 5
    # Self-wakeups: how many may be pending per session, and the shortest delay or repeat interval.
    wakeup_max_per_session: Annotated[int, Field(ge=1)] = 10
    wakeup_min_interval_seconds: Annotated[int, Field(ge=1)] = 60

    def resolved_storage_dir(self) -> Path:
        """The local store's directory: the configured one, or ``<data dir>/files``."""
        return (self.storage_dir or self.data_dir / "files").resolve()

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value) if value else value

    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dma.db').resolve()}"


class SecretKeySettings(CommonSettings):
    """The root key that seals vault secrets (``dma.crypto``): the API seals what clients write, workers open it.

    ``secret_key`` (``DMA_SECRET_KEY``) seals; ``secret_keyring`` (``DMA_SECRET_KEYRING``, comma-separated) holds
    further keys that only open, for rotation without downtime.
    """

    secret_key: SecretStr | None = None
    secret_keyring: SecretStr | None = None

    def keyring(self) -> Keyring:
        """The keyring these settings name.

        Raises:
            SecretKeyError: when ``DMA_SECRET_KEY`` is unset or a key is malformed (the process must not start).
        """
        current = self.secret_key.get_secret_value() if self.secret_key else None
        others = self.secret_keyring.get_secret_value() if self.secret_keyring else None
        return Keyring.from_settings(current, others)


class ApiSettings(SecretKeySettings):
    """Settings of the API façade (``dma api``)."""

    host: str = "127.0.0.1"
    port: int = 8787
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    # Keyless mode exists only for ``dma dev`` on loopback; the entrypoint refuses it elsewhere.
    dev_keyless: bool = False
    # How often SSE readers re-read the DB besides waking on the bus (Unix sockets in the data dir on SQLite,
    # LISTEN/NOTIFY on PostgreSQL), so the poll is only a safety net for a lost doorbell. Empty: 1 s.
    sse_poll_seconds: float | None = None
    # Where people reach the Temporal Web UI (the console links each session's workflow there); empty hides links.
    temporal_ui_url: str = ""
    # What one client event, and all the events of one request, may weigh as stored (JSON). The request default is
    # the Messages API's own request limit: nothing larger could ever reach a model.
    max_event_bytes: int = Field(default=16 * MIB, ge=1)
    max_request_event_bytes: int = Field(default=32 * MIB, ge=1)
    # Largest file one upload may carry (the Files API's own limit), and the largest skill upload (all its files).
    max_upload_bytes: int = Field(default=500 * MIB, ge=1)
    max_skill_bytes: int = Field(default=30 * MIB, ge=1)

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


class DevSettings(ApiSettings):
    """What ``dma dev`` adds to the API's settings: the ports of the Temporal dev server it starts."""

    temporal_port: int = 7233
    # 0 runs the dev server headless (no Web UI).
    temporal_ui_port: int = 8233


class ClientSettings(BaseSettings):
    """What the people verbs (``dma agents|sessions|chat``) need: where the API is and the key to send.

    The key is read as the ``anthropic`` SDK reads it (``ANTHROPIC_API_KEY``); the CLI falls back to the dev key that
    ``dma dev`` keeps in the data dir.
    """

    model_config = SettingsConfigDict(extra="ignore")

    url: str = Field(default="http://127.0.0.1:8787", validation_alias=AliasChoices("DMA_URL"))
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"))
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias=AliasChoices("DMA_DATA_DIR"))


class WorkerSettings(SecretKeySettings):
    """Settings of a worker (``dma worker``): provider credentials live only here."""

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "DMA_ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "DMA_ANTHROPIC_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "DMA_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "DMA_OPENAI_BASE_URL")
    )
    model_max_tokens: int = 8192
    max_concurrent_activities: int = 200
    # This worker's sandbox host id; its tool activities arrive on ``sandbox@<host_name>``. Empty: a fresh id per
    # worker, so a restarted worker is a new host. A stable name lets a restarted worker keep its sandboxes' queue.
    host_name: str = ""
    sandbox_backend: Literal["bwrap", "docker"] = "bwrap"
    sandbox_idle_seconds: float = 900.0
    sandbox_image: str = "dma-sandbox:latest"
    # Where ``github_repository`` resources are cloned from: the path of the resource's URL (``owner/repo``) is
    # appended to it, so a mirror or a test server on loopback can stand in for GitHub.
    github_base_url: str = "https://github.com"
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

    def provider_key(self, env_name: str) -> SecretStr | None:
        """The key a providers-file entry names by its environment variable (None when the variable is unset)."""
        value = os.environ.get(env_name)
        return SecretStr(value) if value else None

    def resolved_host_name(self) -> str:
        """The configured host id, or a new one unique to this worker (call once per worker)."""
        unique = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        return self.host_name or unique
