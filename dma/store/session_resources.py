"""Session resources: rows in ``session_resources``, mirrored in response form on ``sessions.resources``.

The mirror lets every session read (``session_response``) stay one row; both change in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import utcnow
from dma.ids import is_id, new_id
from dma.schemas.common import NotFoundError, SchemaError
from dma.schemas.memory import mount_path as memory_mount_path
from dma.schemas.resources import (
    FileResourceIn,
    MemoryStoreResourceIn,
    RepositoryResourceIn,
    ResourceIn,
    check_mount_path,
    default_mount_path,
    repository_parts,
    resource_response,
)
from dma.store import files as file_store
from dma.store import memory as memory_store
from dma.store.tables import Session, SessionResource

MAX_RESOURCES = 100
ResourceItem = FileResourceIn | RepositoryResourceIn | MemoryStoreResourceIn
_CONFIGS: TypeAdapter[list[ResourceItem]] = TypeAdapter(list[ResourceIn])
# A deployment's resources are checked by building them for a session that does not exist yet.
_CHECK_SESSION = "sesn_deployment_check"


async def _file_row(db: AsyncSession, session_id: str, item: FileResourceIn) -> SessionResource:
    if await file_store.get(db, item.file_id) is None:
        raise NotFoundError("file", item.file_id)
    path = check_mount_path(item.mount_path) if item.mount_path else default_mount_path(item)
    body = {"type": "file", "file_id": item.file_id, "mount_path": path}
    return _row(session_id, "file", body, file_id=item.file_id)


def _repository_row(session_id: str, item: RepositoryResourceIn) -> SessionResource:
    repository_parts(item.url)
    path = check_mount_path(item.mount_path) if item.mount_path else default_mount_path(item)
    body: dict[str, Any] = {"type": "github_repository", "url": item.url, "mount_path": path}
    if item.checkout is not None:
        body["checkout"] = item.checkout.model_dump(mode="json")
    return _row(session_id, "github_repository", body, secret=item.authorization_token)


async def _memory_row(db: AsyncSession, session_id: str, item: MemoryStoreResourceIn) -> SessionResource:
    store = await memory_store.get_store(db, item.memory_store_id)
    if store.archived_at is not None:
        raise SchemaError(f"memory store {store.id!r} is archived; new sessions cannot attach it")
    body = {
        "type": "memory_store",
        "memory_store_id": store.id,
        "access": item.access or "read_write",
        "name": store.name,
        "description": store.description,
        "instructions": item.instructions,
        "mount_path": memory_mount_path(store.name),
    }
    return _row(session_id, "memory_store", body, memory_store_id=store.id)


def _row(session_id: str, kind: str, body: Mapping[str, Any], **refs: str | None) -> SessionResource:
    now = utcnow()
    return SessionResource(
        id=new_id("sesrsc"),
        session_id=session_id,
        position=0,
        type=kind,
        body=dict(body),
        created_at=now,
        updated_at=now,
        **refs,
    )


async def build(db: AsyncSession, session_id: str, items: Sequence[ResourceItem]) -> list[SessionResource]:
    """Rows for a new session's resources, every reference checked.

    Raises:
        NotFoundError: an unknown file or memory store.
        SchemaError: an archived store, a bad URL or mount path, two resources on one path or one store twice.
    """
    rows: list[SessionResource] = []
    for item in items:
        if isinstance(item, FileResourceIn):
            rows.append(await _file_row(db, session_id, item))
        elif isinstance(item, RepositoryResourceIn):
            rows.append(_repository_row(session_id, item))
        else:
            rows.append(await _memory_row(db, session_id, item))
    _check_distinct(rows)
    return rows


async def deployment_configs(db: AsyncSession, items: Sequence[ResourceItem]) -> list[dict[str, Any]]:
    """What a deployment stores of its resources: each one checked now as a session would check it.

    A repository needs its token for every session the deployment creates, and the deployment would have to keep it:
    refused until deployments hold secrets.

    Raises:
        NotFoundError: an unknown file or memory store.
        SchemaError: a repository, an archived store, a bad mount path, two resources on one path or one store twice.
    """
    for index, item in enumerate(items):
        if isinstance(item, RepositoryResourceIn):
            raise SchemaError(
                f"resources.{index}: github_repository resources are not supported on deployments yet (the "
                "deployment would have to keep its token); add it to each session with sessions.resources.add"
            )
    await build(db, _CHECK_SESSION, items)
    return [item.model_dump(mode="json", exclude_none=True) for item in items]


def parse_configs(configs: Sequence[Mapping[str, Any]]) -> list[ResourceItem]:
    """A deployment's stored resources as the inputs a new session's resources are built from."""
    return _CONFIGS.validate_python(list(configs))


def _check_distinct(rows: Sequence[SessionResource]) -> None:
    paths = [str(row.body["mount_path"]) for row in rows]
    for index, path in enumerate(paths):
        for other in paths[index + 1 :]:
            if path == other or other.startswith(path + "/") or path.startswith(other + "/"):
                raise SchemaError(f"two resources would mount at {path[:80]!r} and {other[:80]!r}")
    stores = [row.memory_store_id for row in rows if row.memory_store_id]
    if len(set(stores)) != len(stores):
        raise SchemaError("a memory store is attached twice")


async def insert(db: AsyncSession, session: Session, rows: Sequence[SessionResource]) -> None:
    """Add rows after the session's existing resources and refresh its mirror."""
    existing = await for_session(db, session.id)
    _check_distinct([*existing, *rows])
    if len(existing) + len(rows) > MAX_RESOURCES:
        raise SchemaError(f"a session may have at most {MAX_RESOURCES} resources")
    start = (max((row.position for row in existing), default=-1)) + 1
    for offset, row in enumerate(rows):
        row.position = start + offset
        db.add(row)
    await db.flush()
    await refresh_mirror(db, session)


async def for_session(db: AsyncSession, session_id: str) -> list[SessionResource]:
    """The session's resources in the order they were attached."""
    statement = select(SessionResource).where(SessionResource.session_id == session_id)
    return list((await db.exec(statement.order_by(col(SessionResource.position)))).all())


async def refresh_mirror(db: AsyncSession, session: Session) -> None:
    """Rewrite ``sessions.resources`` from the rows."""
    session.resources = [resource_response(row) for row in await for_session(db, session.id)]
    session.updated_at = utcnow()
    db.add(session)


async def get(db: AsyncSession, session_id: str, resource_id: str) -> SessionResource:
    """A resource of the session, or ``NotFoundError`` (memory-store resources have no id clients know)."""
    row = await db.get(SessionResource, resource_id) if is_id(resource_id, "sesrsc") else None
    if row is None or row.session_id != session_id or row.type == "memory_store":
        raise NotFoundError("session resource", resource_id)
    return row


async def sessions_with_store(db: AsyncSession, memory_store_id: str) -> list[str]:
    """Ids of the sessions a memory store is attached to."""
    statement = select(SessionResource.session_id).where(SessionResource.memory_store_id == memory_store_id)
    return list((await db.exec(statement)).all())
