"""Alembic environment: runs migrations on a synchronous connection handed over by ``dma.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from dma.store import tables  # noqa: F401  # pyright: ignore[reportUnusedImport] - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
