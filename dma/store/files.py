"""File rows (the bytes live in ``dma.storage``, named by digest)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc
from dma.ids import is_id
from dma.store.keyset import Position, page_query
from dma.store.tables import SkillFile, StoredFile


async def get(db: AsyncSession, file_id: str) -> StoredFile | None:
    """A file by id (None for garbage ids)."""
    return await db.get(StoredFile, file_id) if is_id(file_id, "file") else None


async def page(
    db: AsyncSession, *, limit: int, scope_id: str | None, after: Position | None
) -> tuple[list[StoredFile], Position | None]:
    """One page of files, newest first, and the position after it (None on the last page)."""
    statement = select(StoredFile)
    if scope_id is not None:
        statement = statement.where(StoredFile.scope_id == scope_id)
    statement = page_query(statement, col(StoredFile.created_at), col(StoredFile.id), limit=limit, after=after)
    rows = list((await db.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], position


async def by_ids(db: AsyncSession, ids: Sequence[str]) -> list[StoredFile]:
    """The files among ``ids`` that exist, newest first."""
    wanted = [file_id for file_id in dict.fromkeys(ids) if is_id(file_id, "file")]
    if not wanted:
        return []
    statement = select(StoredFile).where(col(StoredFile.id).in_(wanted))
    rows = list((await db.exec(statement)).all())
    return sorted(rows, key=lambda row: (as_utc(row.created_at), row.id), reverse=True)


async def outputs(db: AsyncSession, session_id: str) -> dict[str, StoredFile]:
    """A session's output files by their path below ``/mnt/session/outputs``."""
    statement = select(StoredFile).where(StoredFile.scope_id == session_id, col(StoredFile.output_path).is_not(None))
    return {row.output_path or "": row for row in (await db.exec(statement)).all()}


async def blob_in_use(db: AsyncSession, digest: str) -> bool:
    """Whether any file or skill version still names this blob (checked before the blob is deleted)."""
    for table in (StoredFile, SkillFile):
        count = await db.exec(select(func.count()).select_from(table).where(col(table.sha256) == digest))
        if count.one() > 0:
            return True
    return False
