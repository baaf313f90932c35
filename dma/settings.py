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
    # Workflow input: recorded in history, so the API (which starts workflows) owns them.
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    # How often SSE readers re-read the DB besides waking on the bus. The bus misses nothing when API and worker
    # share a process (``dma dev``), so the poll is then only a safety net; across processes on SQLite it is the
    # only signal. Empty: 0.25 s on SQLite, 1 s on PostgreSQL (LISTEN/NOTIFY rings across processes).
    sse_poll_seconds: float | None = None
    # Where people reach the Temporal Web UI (the console links each session's workflow there); empty hides links.
    temporal_ui_url: str = ""

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

    def resolved_host_name(self) -> str:
        """The configured host id, or a new one unique to this worker (call once per worker)."""
        unique = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        return self.host_name or unique
