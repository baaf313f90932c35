"""Environment queries (API_CONTRACT.md §2.2). Environments are not versioned: an update rewrites the row.

Functions return environment response dicts (``dma.schemas.environments.environment_response``) and raise
``dma.schemas.common`` domain errors, which the API maps onto its error envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc, utcnow
from dma.ids import is_id, new_id
from dma.schemas.common import NotFoundError, SchemaError
from dma.schemas.environments import EnvironmentCreate, EnvironmentUpdate, environment_response
from dma.store.agents import Position, reading
from dma.store.engine import Database
from dma.store.keyset import page_query
from dma.store.tables import Environment


class EnvironmentNotFound(NotFoundError):
    """No such environment; carries the SDK's ``environment_not_found`` code."""

    def __init__(self, env_id: str) -> None:
        super().__init__("environment", env_id)
        self.error_code = "environment_not_found"


async def _row(session: AsyncSession, env_id: str) -> Environment:
    row = await session.get(Environment, env_id) if is_id(env_id, "env") else None
    if row is None:
        raise EnvironmentNotFound(env_id)
    return row


async def create_environment(db: Database, request: EnvironmentCreate) -> dict[str, Any]:
    """Store a new environment.

    Raises:
        SchemaError: when the config or metadata breaks a rule.
    """
    now = utcnow()
    row = Environment(id=new_id("env"), created_at=now, updated_at=now, **request.to_row())
    async with db.write() as session:
        session.add(row)
    return environment_response(row)


async def get_environment(db: Database, env_id: str) -> dict[str, Any]:
    """An environment.

    Raises:
        NotFoundError: when it does not exist.
    """
    async with db.read() as session:
        return environment_response(await _row(session, env_id))


async def get_environment_row(source: Database | AsyncSession, env_id: str) -> Environment | None:
    """The environment row, or None when it does not exist.

    Archived rows are returned too: check ``archived_at`` (a new session cannot use an archived environment). The
    row's ``config`` is already in response form, ready to snapshot.
    """
    if not is_id(env_id, "env"):
        return None
    async with reading(source) as session:
        return await session.get(Environment, env_id)


async def update_environment(db: Database, env_id: str, update: EnvironmentUpdate) -> dict[str, Any]:
    """Apply an update; ``updated_at`` moves only when a value actually changes.

    Raises:
        NotFoundError: when the environment does not exist.
        SchemaError: ``environment_archived`` for an archived environment, ``invalid_config_type_change`` when
            ``config.type`` changes, or another rule violation.
    """
    async with db.write() as session:
        row = await _row(session, env_id)
        if row.archived_at is not None:
            raise SchemaError(
                f"environment {env_id!r} is archived and cannot be updated", error_code="environment_archived"
            )
        changes = {key: value for key, value in update.changes(row).items() if getattr(row, key) != value}
        if changes:
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
    return environment_response(row)


async def archive_environment(db: Database, env_id: str) -> dict[str, Any]:
    """Archive an environment (one-way; archiving again changes nothing).

    Raises:
        NotFoundError: when the environment does not exist.
    """
    async with db.write() as session:
        row = await _row(session, env_id)
        if row.archived_at is None:
            row.archived_at = row.updated_at = utcnow()
            session.add(row)
    return environment_response(row)


async def delete_environment(db: Database, env_id: str) -> dict[str, str]:
    """Delete an environment for good; sessions keep the config they captured when they were created.

    Raises:
        NotFoundError: when the environment does not exist.
    """
    async with db.write() as session:
        await session.delete(await _row(session, env_id))
    return {"id": env_id, "type": "environment_deleted"}


async def list_environments(
    db: Database,
    *,
    limit: int,
    include_archived: bool = False,
    created: Mapping[str, datetime] | None = None,
    after: Position | None = None,
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of environments, newest first by ``(created_at, id)``, and the position after it (None at the end).

    ``created`` bounds (``gt``, ``gte``, ``lt``, ``lte``) go beyond the contract, as in the agents list.
    """
    created_at, ident = col(Environment.created_at), col(Environment.id)
    statement = select(Environment)
    if not include_archived:
        statement = statement.where(col(Environment.archived_at).is_(None))
    statement = page_query(statement, created_at, ident, limit=limit, created=created, after=after)
    async with db.read() as session:
        rows = list((await session.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return [environment_response(row) for row in rows[:limit]], position
