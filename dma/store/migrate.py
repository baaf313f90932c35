"""Schema migrations (Alembic), run by ``dma migrate``, ``dma dev`` and the test fixtures."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

_HERE = Path(__file__).parent / "migrations"


def sync_url(url: str) -> str:
    """The synchronous driver URL for the same database (Alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite://", "sqlite://")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent)."""
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(url), poolclass=NullPool)
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    engine.dispose()


def autogenerate(url: str, message: str) -> None:
    """Write a new revision from the difference between the tables and the database (a developer tool)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
    engine.dispose()
