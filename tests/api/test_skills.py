"""Skills through the SDK (scenario 25): uploads of one directory with SKILL.md, versions, zip download, references."""

from __future__ import annotations

import io
import zipfile

import anthropic
import pytest

from tests.api.recording import Recorder
from tests.api.sessions_with_tools import ToolSession, text_of
from tests.helpers import make_agent, make_environment

TOOLSET = {"type": "agent_toolset_20260401"}
SKILL_MD = b"---\nname: s\ndescription: d\n---\n"


def test_scenario_25(recorded: tuple[anthropic.Anthropic, Recorder]) -> None:
    client, recorder = recorded
    skill = client.beta.skills.create(files=[("s/SKILL.md", SKILL_MD)])
    request = recorder.last("POST", "/v1/skills")
    assert b'name="files[]"; filename="s/SKILL.md"' in request.read()
    assert "anthropic-beta" not in request.headers
    assert skill.source.type == "custom" and skill.latest_version_id and skill.display_name == "s"
    version = client.beta.skills.versions.retrieve("latest", skill_id=skill.id)
    assert version.name == "s" and version.description == "d" and version.id == skill.latest_version_id
    agent = make_agent(client, tools=[TOOLSET], skills=[{"type": "custom", "skill_id": skill.id}])
    assert agent.skills[0].type == "custom" and agent.skills[0].version == version.id
    pinned = make_agent(client, tools=[TOOLSET], skills=[{"type": "custom", "skill_id": skill.id, "version": "latest"}])
    assert pinned.skills[0].version == version.id
    # And in a sandbox: the agent's skill is mounted where the system prompt says.
    session = ToolSession(client, agent_id=agent.id)
    assert "description: d" in text_of(session.run("read", {"file_path": "/mnt/skills/s/SKILL.md"}))


def test_versions_download_and_delete(client: anthropic.Anthropic) -> None:
    files = [
        ("pdf-tools/SKILL.md", b"---\nname: pdf-tools\ndescription: 'Work with PDFs'\n---\nUse the script.\n"),
        ("pdf-tools/scripts/run.py", b"print('hi')\n"),
    ]
    skill = client.beta.skills.create(files=files, display_name="PDF tools")
    assert skill.display_name == "PDF tools"
    first = skill.latest_version_id
    second = client.beta.skills.versions.create(skill.id, files=[files[0]])
    assert second.id != first and client.beta.skills.retrieve(skill.id).latest_version_id == second.id
    assert [v.id for v in client.beta.skills.versions.list(skill.id)] == [second.id, first]
    archive = zipfile.ZipFile(io.BytesIO(client.beta.skills.versions.download(first, skill_id=skill.id).read()))
    assert sorted(archive.namelist()) == ["pdf-tools/SKILL.md", "pdf-tools/scripts/run.py"]
    assert archive.read("pdf-tools/scripts/run.py") == b"print('hi')\n"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.skills.versions.create(
            skill.id, files=[("other/SKILL.md", b"---\nname: other\ndescription: x\n---\n")]
        )
    deleted = client.beta.skills.versions.delete(second.id, skill_id=skill.id)
    assert deleted.type == "skill_version_deleted"
    assert client.beta.skills.retrieve(skill.id).latest_version_id == first
    with pytest.raises(anthropic.BadRequestError):
        client.beta.skills.versions.delete(first, skill_id=skill.id)
    assert skill.id in [s.id for s in client.beta.skills.list(source="custom", limit=1000)]
    assert list(client.beta.skills.list(source="anthropic")) == []
    assert client.beta.skills.delete(skill.id).type == "skill_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.retrieve(skill.id)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("SKILL.md", SKILL_MD)], "top-level directory"),
        ([("a/SKILL.md", SKILL_MD), ("b/x.txt", b"x")], "top-level directory"),
        ([("a/readme.md", b"x")], "SKILL.md"),
        ([("a/SKILL.md", b"no frontmatter")], "frontmatter"),
        ([("a/SKILL.md", b"---\nname: Not A Slug\ndescription: d\n---\n")], "kebab-case"),
        ([("a/SKILL.md", b"---\nname: a\n---\n")], "description"),
        ([("../SKILL.md", SKILL_MD)], "relative"),
        ([("/abs/SKILL.md", SKILL_MD)], "relative"),
        ([("a/SKILL.md", b"\xff\xfe")], "UTF-8"),
    ],
)
def test_bad_uploads_are_refused(client: anthropic.Anthropic, files: list[tuple[str, bytes]], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.beta.skills.create(files=files)
    assert message in caught.value.message


def test_references_are_checked(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        make_agent(client, tools=[TOOLSET], skills=[{"type": "anthropic", "skill_id": "xlsx"}])
    assert "anthropic skill 'xlsx' cannot be fetched by this server" in caught.value.message
    with pytest.raises(anthropic.NotFoundError):
        make_agent(client, tools=[TOOLSET], skills=[{"type": "custom", "skill_id": "skill_missing"}])
    skill = client.beta.skills.create(files=[("s/SKILL.md", SKILL_MD)])
    with pytest.raises(anthropic.NotFoundError):
        make_agent(client, tools=[TOOLSET], skills=[{"type": "custom", "skill_id": skill.id, "version": "1"}])
    agent = make_agent(client, tools=[TOOLSET])
    updated = client.beta.agents.update(agent.id, version=1, skills=[{"type": "custom", "skill_id": skill.id}])
    assert updated.version == 2 and updated.skills[0].version == skill.latest_version_id
    env = make_environment(client)
    override = {"type": "agent_with_overrides", "id": agent.id, "skills": [{"type": "custom", "skill_id": skill.id}]}
    session = client.beta.sessions.create(agent=override, environment_id=env.id)  # type: ignore[arg-type]
    assert session.agent.skills[0].version == skill.latest_version_id
