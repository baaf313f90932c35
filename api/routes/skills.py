"""Skills and skill versions (API_CONTRACT.md §2.8): multipart uploads, lists, retrieval, zip download, delete.

No beta header is required (the SDK sends none).
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import StateDep
from api.errors import InvalidRequest
from api.multipart import BINARY, form_body
from api.routes.agents import next_page, page_after
from api.routes.files import content_disposition, release_blob
from api.skill_upload import SkillUpload, read_skill_upload
from dma.clock import utcnow
from dma.ids import new_id
from dma.schemas.memory import Deleted
from dma.schemas.skills import (
    SkillOut,
    SkillPage,
    SkillVersionOut,
    SkillVersionPage,
    skill_response,
    version_response,
)
from dma.store import skills as store
from dma.store.tables import Skill, SkillFile, SkillVersion

router = APIRouter(prefix="/v1/skills", tags=["skills"])
ZIP_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"description": "The version's files as a zip archive.", "content": {"application/zip": {"schema": BINARY}}}
}
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size, 1-1000.")]


async def _upload(request: Request, state: StateDep) -> SkillUpload:
    async def release(digests: list[str]) -> None:
        for digest in set(digests):
            await release_blob(state.db, state.storage, digest)

    return await read_skill_upload(request, state.storage, state.settings.max_skill_bytes, release)


def _version(upload: SkillUpload, skill_id: str, version_id: str) -> tuple[SkillVersion, list[SkillFile]]:
    now = utcnow()
    version = SkillVersion(
        skill_id=skill_id,
        id=version_id,
        name=upload.name,
        description=upload.description,
        directory=upload.directory,
        created_at=now,
    )
    files = [
        SkillFile(skill_id=skill_id, version_id=version_id, path=path, sha256=blob.sha256, size_bytes=blob.size)
        for path, blob in upload.files.items()
    ]
    return version, files


SKILL_FORM = form_body({"files[]": {"type": "array", "items": BINARY}, "display_name": {"type": "string"}}, ["files[]"])
VERSION_FORM = form_body({"files[]": {"type": "array", "items": BINARY}}, ["files[]"])


@router.post("", response_model=SkillOut, openapi_extra=SKILL_FORM)
async def create_skill(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a custom skill from the files of one directory holding ``SKILL.md``."""
    upload = await _upload(request, state)
    try:
        display_name = upload.display_name or upload.name
        if len(display_name) > 255 or any(unicodedata.category(char) in ("Cc", "Cf") for char in display_name):
            raise InvalidRequest("display_name must be at most 255 characters, without control or format characters")
        now = utcnow()
        skill = Skill(
            id=new_id("skill"),
            display_name=display_name,
            name=upload.name,
            source="custom",
            latest_version_id="",
            created_at=now,
            updated_at=now,
        )
        async with state.db.write() as db:
            version, files = _version(upload, skill.id, await store.unique_version_id(db, skill.id, now))
            await store.add_version(db, skill, version, files)
    except BaseException:
        for digest in set(upload.digests()):
            await release_blob(state.db, state.storage, digest)
        raise
    return skill_response(skill)


@router.get("", response_model=SkillPage)
async def list_skills(
    state: StateDep, limit: Limit = 20, page: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """List skills, newest first (``source`` filters by origin)."""
    async with state.db.read() as db:
        rows, position = await store.skills_page(db, limit=limit, source=source, after=page_after(page))
    return {"data": [skill_response(row) for row in rows], "next_page": next_page(position)}


@router.get("/{skill_id}", response_model=SkillOut)
async def retrieve_skill(skill_id: str, state: StateDep) -> dict[str, Any]:
    """Get a skill."""
    async with state.db.read() as db:
        return skill_response(await store.get_skill(db, skill_id))


@router.delete("/{skill_id}", response_model=Deleted)
async def delete_skill(skill_id: str, state: StateDep) -> dict[str, Any]:
    """Delete a skill with all its versions."""
    async with state.db.write() as db:
        digests = await store.delete_skill(db, skill_id)
    for digest in set(digests):
        await release_blob(state.db, state.storage, digest)
    return {"id": skill_id, "type": "skill_deleted"}


@router.post("/{skill_id}/versions", response_model=SkillVersionOut, openapi_extra=VERSION_FORM)
async def create_skill_version(skill_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    """Upload a new version of a skill (its ``SKILL.md`` must keep the skill's name)."""
    async with state.db.read() as db:
        await store.get_skill(db, skill_id)
    upload = await _upload(request, state)
    try:
        async with state.db.write() as db:
            skill = await store.get_skill(db, skill_id, lock=True)
            version, files = _version(upload, skill_id, await store.unique_version_id(db, skill_id, utcnow()))
            await store.add_version(db, skill, version, files)
    except BaseException:
        for digest in set(upload.digests()):
            await release_blob(state.db, state.storage, digest)
        raise
    return version_response(version)


@router.get("/{skill_id}/versions", response_model=SkillVersionPage)
async def list_skill_versions(
    skill_id: str, state: StateDep, limit: Limit = 20, page: str | None = None
) -> dict[str, Any]:
    """List a skill's versions, newest first."""
    async with state.db.read() as db:
        rows, position = await store.versions_page(db, skill_id, limit=limit, after=page_after(page))
    return {"data": [version_response(row) for row in rows], "next_page": next_page(position)}


@router.get("/{skill_id}/versions/{version}", response_model=SkillVersionOut)
async def retrieve_skill_version(skill_id: str, version: str, state: StateDep) -> dict[str, Any]:
    """Get a version by id, or the newest with ``latest``."""
    async with state.db.read() as db:
        return version_response(await store.get_version(db, skill_id, version))


@router.delete("/{skill_id}/versions/{version}", response_model=Deleted)
async def delete_skill_version(skill_id: str, version: str, state: StateDep) -> dict[str, Any]:
    """Delete a version (not a skill's only one)."""
    async with state.db.write() as db:
        version_id, digests = await store.delete_version(db, skill_id, version)
    for digest in set(digests):
        await release_blob(state.db, state.storage, digest)
    return {"id": version_id, "type": "skill_version_deleted"}


@router.get("/{skill_id}/versions/{version}/content", response_class=Response, responses=ZIP_RESPONSE)
async def download_skill_version(skill_id: str, version: str, state: StateDep) -> Response:
    """Download a version's files as a zip of its directory."""
    async with state.db.read() as db:
        row = await store.get_version(db, skill_id, version)
        files = await store.version_files(db, skill_id, row.id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in files:
            archive.writestr(entry.path, await state.storage.read(entry.sha256))
    headers = {"content-disposition": content_disposition(f"{row.name}.zip")}
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)
