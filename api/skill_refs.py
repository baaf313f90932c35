"""Skill references of agents and sessions: each custom skill pinned to a concrete version, anthropic ones refused.

An agent's ``skills[]`` come back with a resolved ``version`` string (API_CONTRACT.md §4.5): an omitted version or
``latest`` is pinned to the skill's newest version when the agent (or session override) is saved, so a session
always mounts the exact files its agent named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import InvalidRequest, NotFound
from dma.schemas.agent_parts import AnthropicSkill, CustomSkill
from dma.schemas.common import NotFoundError
from dma.store import skills as skill_store
from dma.store.engine import Database

LATEST = "latest"


async def resolve_version(db: AsyncSession, kind: str, skill_id: str, version: str | None) -> str:
    """The concrete version a reference names.

    Raises:
        InvalidRequest: for ``anthropic`` skills, which this server cannot fetch.
        NotFound: an unknown custom skill or version.
    """
    if kind == "anthropic":
        raise InvalidRequest(
            f"skills[]: the anthropic skill {skill_id[:64]!r} cannot be fetched by this server; upload its files "
            "with POST /v1/skills and reference it as {'type': 'custom', 'skill_id': ...}"
        )
    try:
        row = await skill_store.get_version(db, skill_id, version or LATEST)
    except NotFoundError as err:
        raise NotFound("skill", skill_id if version in (None, LATEST) else f"{skill_id} version {version}") from err
    return row.id


async def resolve_entries(db: AsyncSession, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Response-form skill entries with every version resolved."""
    resolved: list[dict[str, Any]] = []
    for entry in entries:
        version = await resolve_version(db, str(entry.get("type")), str(entry.get("skill_id")), entry.get("version"))
        resolved.append({**entry, "version": version})
    return resolved


async def resolve_models(db: Database, skills: Sequence[AnthropicSkill | CustomSkill] | None) -> None:
    """Pin the versions of a request's skill references in place (before the agent is stored)."""
    if not skills:
        return
    async with db.read() as session:
        for skill in skills:
            skill.version = await resolve_version(session, skill.type, skill.skill_id, skill.version)


async def resolve_snapshot_skills(db: AsyncSession, snapshot: dict[str, Any]) -> None:
    """Pin the skills of a session's agent snapshot (an override may name new ones)."""
    snapshot["skills"] = await resolve_entries(db, snapshot.get("skills") or [])
