"""Skills, their versions and files. Version ids are epoch-microsecond strings, as Anthropic's skills use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import as_utc
from dma.ids import is_id
from dma.schemas.common import NotFoundError, SchemaError
from dma.store.keyset import Position, page_query
from dma.store.tables import Skill, SkillFile, SkillVersion

LATEST = "latest"


def version_id_at(moment: datetime) -> str:
    """The version id for a version created at ``moment`` (microseconds since the epoch)."""
    return str(int(as_utc(moment).timestamp() * 1_000_000))


async def get_skill(db: AsyncSession, skill_id: str, *, lock: bool = False) -> Skill:
    """The skill, or ``NotFoundError``."""
    if not is_id(skill_id, "skill"):
        raise NotFoundError("skill", skill_id)
    statement = select(Skill).where(Skill.id == skill_id)
    row = (await db.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFoundError("skill", skill_id)
    return row


async def get_version(db: AsyncSession, skill_id: str, version: str) -> SkillVersion:
    """A version by id, or the newest for ``latest``; ``NotFoundError`` otherwise."""
    skill = await get_skill(db, skill_id)
    version_id = skill.latest_version_id if version == LATEST else version
    # Version ids are epoch microseconds: anything else names none, and may not reach the database (PostgreSQL
    # refuses a NUL in text with an error, not an empty result).
    row = await db.get(SkillVersion, (skill_id, version_id)) if _is_version_id(version_id) else None
    if row is None:
        raise NotFoundError("skill version", f"{skill_id} {version}")
    return row


def _is_version_id(value: str) -> bool:
    return 0 < len(value) <= 20 and value.isascii() and value.isdigit()


async def unique_version_id(db: AsyncSession, skill_id: str, moment: datetime) -> str:
    """A version id for ``moment`` that this skill does not have yet (the next microsecond on a collision)."""
    candidate = int(version_id_at(moment))
    while await db.get(SkillVersion, (skill_id, str(candidate))) is not None:
        candidate += 1
    return str(candidate)


async def add_version(db: AsyncSession, skill: Skill, version: SkillVersion, files: list[SkillFile]) -> None:
    """Store a version and its files, and make it the skill's latest.

    Raises:
        SchemaError: when the version's slug differs from the skill's.
    """
    if version.name != skill.name:
        raise SchemaError(f"SKILL.md name {version.name!r} must stay {skill.name!r}, the name this skill has")
    db.add(version)
    for entry in files:
        db.add(entry)
    skill.latest_version_id = version.id
    skill.updated_at = version.created_at
    db.add(skill)
    await db.flush()


async def skills_page(
    db: AsyncSession, *, limit: int, source: str | None, after: Position | None
) -> tuple[list[Skill], Position | None]:
    """One page of skills, newest first."""
    statement = select(Skill)
    if source is not None:
        statement = statement.where(Skill.source == source)
    statement = page_query(statement, col(Skill.created_at), col(Skill.id), limit=limit, after=after)
    rows = list((await db.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], position


async def versions_page(
    db: AsyncSession, skill_id: str, *, limit: int, after: Position | None
) -> tuple[list[SkillVersion], Position | None]:
    """One page of a skill's versions, newest first."""
    await get_skill(db, skill_id)
    statement = select(SkillVersion).where(SkillVersion.skill_id == skill_id)
    statement = page_query(statement, col(SkillVersion.created_at), col(SkillVersion.id), limit=limit, after=after)
    rows = list((await db.exec(statement)).all())
    position = (as_utc(rows[limit - 1].created_at), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], position


async def version_files(db: AsyncSession, skill_id: str, version_id: str) -> list[SkillFile]:
    """A version's files, by path."""
    statement = select(SkillFile).where(SkillFile.skill_id == skill_id, SkillFile.version_id == version_id)
    return list((await db.exec(statement.order_by(col(SkillFile.path)))).all())


async def delete_version(db: AsyncSession, skill_id: str, version: str) -> tuple[str, list[str]]:
    """Delete one version (never a skill's only one); its id and the digests of its files.

    Raises:
        NotFoundError: unknown skill or version.
        SchemaError: it is the skill's only version (delete the skill instead).
    """
    skill = await get_skill(db, skill_id, lock=True)
    row = await get_version(db, skill_id, version)
    others = select(SkillVersion).where(SkillVersion.skill_id == skill_id, SkillVersion.id != row.id)
    newest = (await db.exec(others.order_by(col(SkillVersion.created_at).desc(), col(SkillVersion.id).desc()))).first()
    if newest is None:
        raise SchemaError(f"version {row.id} is the only version of skill {skill_id}; delete the skill instead")
    digests = [entry.sha256 for entry in await version_files(db, skill_id, row.id)]
    await db.exec(delete(SkillFile).where(col(SkillFile.skill_id) == skill_id, col(SkillFile.version_id) == row.id))
    await db.delete(row)
    skill.latest_version_id = newest.id
    db.add(skill)
    return row.id, digests


async def delete_skill(db: AsyncSession, skill_id: str) -> list[str]:
    """Delete a skill with every version; the digests its files named."""
    skill = await get_skill(db, skill_id, lock=True)
    files = await db.exec(select(SkillFile).where(SkillFile.skill_id == skill_id))
    digests = [entry.sha256 for entry in files.all()]
    await db.exec(delete(SkillFile).where(col(SkillFile.skill_id) == skill_id))
    await db.exec(delete(SkillVersion).where(col(SkillVersion.skill_id) == skill_id))
    await db.delete(skill)
    return digests
