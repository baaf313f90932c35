"""A custom skill used in a session on both sandbox backends: listed in the system prompt, its files mounted read-only
under /mnt/skills, and its SKILL.md read by the (scripted) model with the read tool."""

from __future__ import annotations

import secrets

import anthropic

from tests.api.sessions_with_tools import TOOLSET, ToolSession, text_of
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent


def test_a_skill_is_listed_mounted_and_read(sandbox_client: anthropic.Anthropic, model_server: FakeModelServer) -> None:
    client = sandbox_client
    slug = f"report-writer-{secrets.token_hex(3)}"
    skill_md = f"---\nname: {slug}\ndescription: Write quarterly reports\n---\nRun scripts/build.sh first.\n"
    skill = client.beta.skills.create(
        files=[(f"{slug}/SKILL.md", skill_md.encode()), (f"{slug}/scripts/build.sh", b"echo built\n")]
    )
    agent = make_agent(client, tools=[TOOLSET], skills=[{"type": "custom", "skill_id": skill.id}])
    session = ToolSession(client, agent_id=agent.id)
    result = session.run("read", {"file_path": f"/mnt/skills/{slug}/SKILL.md"})
    assert not result.is_error and "Run scripts/build.sh first." in text_of(result)
    request = next(r for r in reversed(model_server.requests) if slug in str(r.body.get("system")))
    system = str(request.body["system"])
    assert f"- {slug}: Write quarterly reports (read /mnt/skills/{slug}/SKILL.md before using it)" in system
    ran = session.run("bash", {"command": f"sh /mnt/skills/{slug}/scripts/build.sh && touch /mnt/skills/{slug}/x"})
    assert "built" in text_of(ran) and ran.is_error, "the skill's files run but cannot be changed"
    second = client.beta.skills.versions.create(
        skill.id, files=[(f"{slug}/SKILL.md", skill_md.replace("first", "twice").encode())]
    )
    assert second.id != agent.skills[0].version
    pinned = session.run("read", {"file_path": f"/mnt/skills/{slug}/SKILL.md"})
    assert "first" in text_of(pinned), "the session mounts the version its agent pinned"
