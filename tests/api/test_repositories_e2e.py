"""``github_repository`` resources on both sandbox backends: cloned on the worker from a repository host on loopback
at the commit or branch asked, before the first tool call; the token never reaches the sandbox, events or logs."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import anthropic
import pytest

from dma.cli.logs import PARAMETER_LOGGERS
from tests.api.sessions_with_tools import ToolSession, text_of
from tests.fakes.git_server import GitServer


def test_repositories_are_cloned_at_the_asked_commit_without_leaking_the_token(
    sandbox_client: anthropic.Anthropic, git_server: GitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = sandbox_client
    owner, name = "acme", f"tool{secrets.token_hex(3)}"
    commits = git_server.create(owner, name, tmp_path / "work")
    token = "ghp_" + secrets.token_hex(16)
    git_server.tokens.add(token)
    url = f"https://github.com/{owner}/{name}"
    resources = [
        {
            "type": "github_repository",
            "url": url,
            "authorization_token": token,
            "checkout": {"type": "commit", "sha": commits["first"]},
        },
        {
            "type": "github_repository",
            "url": url + ".git",
            "authorization_token": token,
            "checkout": {"type": "branch", "name": "feature"},
            "mount_path": "/workspace/feat",
        },
    ]
    session = ToolSession(client, resources=resources)
    listed = list(client.beta.sessions.resources.list(session.id))
    assert [r.type for r in listed] == ["github_repository", "github_repository"]
    assert listed[0].mount_path == f"/workspace/{name}"  # type: ignore[union-attr]
    assert token not in json.dumps([r.model_dump(mode="json") for r in listed])
    half = len(token) // 2
    probe = (
        f"cd /workspace/{name} && cat VERSION && git rev-parse HEAD && git -C /workspace/feat rev-parse HEAD && "
        f"cat /workspace/feat/FEATURE && git remote get-url origin && "
        f"A={token[:half]}; B={token[half:]}; "
        '(grep -rIl "$A$B" /workspace /tmp /mnt 2>/dev/null; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" | '
        'grep -c "$A$B"; git config --list --show-origin | grep -c "$A$B") | tr "\\n" " "'
    )
    shown = session.run("bash", {"command": probe})
    lines = text_of(shown).splitlines()
    assert lines[0] == "one" and lines[1] == commits["first"], "the commit asked, not the branch tip"
    assert lines[2] == commits["feature"] and lines[3] == "feature"
    assert lines[4] == url, "origin is the resource URL, with no credentials"
    assert lines[5].split() == ["0", "0"], f"the token is nowhere in the sandbox: {lines[5:]}"
    assert any(header.startswith("Basic ") for header in git_server.seen_authorization)
    rotated = "ghp_" + secrets.token_hex(16)
    updated = client.beta.sessions.resources.update(listed[0].id, session_id=session.id, authorization_token=rotated)
    assert rotated not in json.dumps(updated.model_dump(mode="json"))
    events = json.dumps([e.model_dump(mode="json") for e in client.beta.sessions.events.list(session.id)])
    assert token not in events and rotated not in events
    # Every line the server side logged (the test's own SDK client logs its requests, token included; and dma's CLI
    # keeps the drivers that log SQL parameters at INFO: dma.cli.logs.PARAMETER_LOGGERS).
    client_side = ("anthropic", "httpx", "httpcore", *PARAMETER_LOGGERS)
    server_lines = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(client_side))
    assert server_lines and token not in server_lines and rotated not in server_lines
    assert token not in json.dumps(client.beta.sessions.retrieve(session.id).model_dump(mode="json"))


def test_a_clone_that_fails_is_reported_and_the_session_goes_on(
    sandbox_client: anthropic.Anthropic, git_server: GitServer, tmp_path: Path
) -> None:
    owner, name = "acme", f"private{secrets.token_hex(3)}"
    git_server.create(owner, name, tmp_path / "work")
    resources = [
        {"type": "github_repository", "url": f"https://github.com/{owner}/{name}", "authorization_token": "bad"}
    ]
    session = ToolSession(sandbox_client, resources=resources)
    result = session.run("bash", {"command": "echo still here"})
    assert "still here" in text_of(result) and "could not be cloned" in text_of(result)
    assert "bad" not in text_of(result).split("could not be cloned")[1].split(";")[0].split()
