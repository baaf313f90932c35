"""Skills and skill versions (API_CONTRACT.md §2.8): upload rules, ``SKILL.md`` frontmatter, responses."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel

from dma.clock import rfc3339
from dma.schemas.common import SchemaError
from dma.store.tables import Skill, SkillVersion

SKILL_FILE = "SKILL.md"
MAX_FILES = 1000
MAX_PATH_CHARS = 1024
MAX_DESCRIPTION = 1024
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 64


def check_skill_path(raw: str | None) -> str:
    """A part's filename as a relative path inside the skill (``s/SKILL.md``); never absolute or escaping.

    Raises:
        SchemaError: for an empty, absolute or ``..`` path, control characters, or one over 1,024 characters.
    """
    path = (raw or "").replace("\\", "/")
    segments = path.split("/")
    if not path or path.startswith("/") or any(segment in ("", ".", "..") for segment in segments):
        raise SchemaError(f"skill file path {path[:80]!r} must be relative, with no empty, '.' or '..' segment")
    if len(path) > MAX_PATH_CHARS or any(unicodedata.category(char) in ("Cc", "Cf") for char in path):
        raise SchemaError(f"skill file path {path[:80]!r} is too long or contains control characters")
    return path


def top_directory(paths: list[str]) -> str:
    """The one top-level directory every file sits under, which must hold ``SKILL.md``.

    Raises:
        SchemaError: when files are outside one directory or ``SKILL.md`` is missing.
    """
    if not paths:
        raise SchemaError("a skill needs at least one file (files[])")
    if len(paths) > MAX_FILES:
        raise SchemaError(f"a skill may have at most {MAX_FILES} files")
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) != 1 or any("/" not in path for path in paths):
        raise SchemaError("every file must sit under one top-level directory (e.g. my-skill/SKILL.md)")
    top = tops.pop()
    if f"{top}/{SKILL_FILE}" not in paths:
        raise SchemaError(f"the skill's directory {top!r} has no {SKILL_FILE} at its root")
    if len(set(paths)) != len(paths):
        raise SchemaError("a file path appears twice in the upload")
    return top


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def frontmatter(text: str) -> dict[str, str]:
    """The ``key: value`` pairs of a ``SKILL.md``'s leading ``---`` block (scalar values only, as skills use)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise SchemaError(f"{SKILL_FILE} must start with a '---' frontmatter block holding name and description")
    pairs: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return pairs
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            pairs[key.strip()] = _unquote(value)
    raise SchemaError(f"the frontmatter of {SKILL_FILE} is not closed by '---'")


def name_and_description(skill_md: bytes) -> tuple[str, str]:
    """The slug and description a ``SKILL.md`` declares.

    Raises:
        SchemaError: when it is not UTF-8, or ``name`` is not a kebab-case slug of at most 64 characters, or the
            description is missing or over 1,024 characters.
    """
    try:
        text = skill_md.decode("utf-8")
    except UnicodeDecodeError:
        raise SchemaError(f"{SKILL_FILE} must be UTF-8 text") from None
    pairs = frontmatter(text)
    name, description = pairs.get("name", ""), pairs.get("description", "")
    if not SLUG.match(name) or len(name) > MAX_SLUG:
        raise SchemaError(f"{SKILL_FILE} name must be a kebab-case slug (a-z, 0-9, '-') of at most {MAX_SLUG} chars")
    if not description or len(description) > MAX_DESCRIPTION:
        raise SchemaError(f"{SKILL_FILE} needs a description of 1 to {MAX_DESCRIPTION} characters")
    return name, description


def skill_response(row: Skill) -> dict[str, Any]:
    """The ``skill`` object."""
    return {
        "id": row.id,
        "type": "skill",
        "display_name": row.display_name,
        "latest_version_id": row.latest_version_id,
        "source": {"type": row.source},
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def version_response(row: SkillVersion) -> dict[str, Any]:
    """The ``skill_version`` object."""
    return {
        "id": row.id,
        "type": "skill_version",
        "skill_id": row.skill_id,
        "name": row.name,
        "description": row.description,
        "created_at": rfc3339(row.created_at),
    }


class SkillSource(BaseModel):
    type: Literal["custom", "anthropic", "anthropic_example", "plugin"]


class SkillOut(BaseModel):
    id: str
    type: Literal["skill"]
    display_name: str
    latest_version_id: str
    source: SkillSource
    created_at: str
    updated_at: str


class SkillPage(BaseModel):
    data: list[SkillOut]
    next_page: str | None = None


class SkillVersionOut(BaseModel):
    id: str
    type: Literal["skill_version"]
    skill_id: str
    name: str
    description: str
    created_at: str


class SkillVersionPage(BaseModel):
    data: list[SkillVersionOut]
    next_page: str | None = None
