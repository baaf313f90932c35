"""Files in sessions on both sandbox backends: resources mounted read-only, files added mid-session, outputs become
downloadable session-scoped files, and file blocks of user messages reach the model as their bytes."""

from __future__ import annotations

import base64

import anthropic
import pytest

from tests.api.sessions_with_tools import ToolSession, text_of
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_session, user_message, wait_for_idle_events


def test_file_resources_are_read_only_at_their_mount_paths(sandbox_client: anthropic.Anthropic) -> None:
    client = sandbox_client
    data = client.beta.files.upload(file=("data.csv", b"a,b\n1,2\n", "text/csv"))
    notes = client.beta.files.upload(file=("notes.txt", b"hello notes", "text/plain"))
    resources = [
        {"type": "file", "file_id": data.id},
        {"type": "file", "file_id": notes.id, "mount_path": "/workspace/input/notes.txt"},
    ]
    session = ToolSession(client, resources=resources)
    shown = session.run("bash", {"command": f"cat /mnt/session/uploads/{data.id} /workspace/input/notes.txt"})
    assert text_of(shown).strip() == "a,b\n1,2\nhello notes"
    assert session.run("write", {"file_path": f"/mnt/session/uploads/{data.id}", "content": "x"}).is_error
    assert session.run("bash", {"command": "echo x > /workspace/input/notes.txt"}).is_error
    later = client.beta.files.upload(file=("later.txt", b"added later", "text/plain"))
    added = client.beta.sessions.resources.add(session.id, file_id=later.id, type="file")
    assert "added later" in text_of(session.run("read", {"file_path": added.mount_path}))
    client.beta.sessions.resources.delete(added.id, session_id=session.id)
    assert session.run("read", {"file_path": added.mount_path}).is_error


def test_outputs_become_downloadable_files(sandbox_client: anthropic.Anthropic) -> None:
    client = sandbox_client
    session = ToolSession(client)
    command = (
        "cd /mnt/session/outputs && mkdir -p sub && printf 'a,b\\n' > report.csv && "
        "head -c 3000 /dev/urandom > sub/blob.bin && ln -s /etc/passwd link"
    )
    wrote = session.run("bash", {"command": command})
    assert not wrote.is_error, text_of(wrote)
    outputs = {f.filename: f for f in client.beta.files.list(scope_id=session.id)}
    assert set(outputs) == {"report.csv", "blob.bin"}, "regular files only: the symlink is not followed"
    report = outputs["report.csv"]
    assert report.scope is not None and report.scope.id == session.id and report.scope.type == "session"
    assert report.mime_type == "text/csv"
    assert client.beta.files.download(report.id).read() == b"a,b\n"
    blob = session.run("bash", {"command": "base64 -w0 /mnt/session/outputs/sub/blob.bin"})
    assert client.beta.files.download(outputs["blob.bin"].id).read() == base64.b64decode(text_of(blob).strip())
    session.run("write", {"file_path": "/mnt/session/outputs/report.csv", "content": "changed\n"})
    again = {f.filename: f for f in client.beta.files.list(scope_id=session.id)}
    assert again["report.csv"].id == report.id and client.beta.files.download(report.id).read() == b"changed\n"


def test_file_blocks_reach_the_model(client: anthropic.Anthropic, model_server: FakeModelServer) -> None:
    image = bytes.fromhex("89504e470d0a1a0a") + b"fake png"
    picture = client.beta.files.upload(file=("pic.png", image, "image/png"))
    paper = client.beta.files.upload(file=("paper.txt", b"the paper's text", "text/plain"))
    session = make_session(client)
    marker = f"look {session.id}"
    message = user_message(marker)
    message["content"] += [
        {"type": "image", "source": {"type": "file", "file_id": picture.id}},
        {"type": "document", "source": {"type": "file", "file_id": paper.id}, "title": "Paper"},
    ]
    client.beta.sessions.events.send(session.id, events=[message])
    wait_for_idle_events(client, session.id, 1)
    request = next(r for r in reversed(model_server.requests) if marker in str(r.body.get("messages")))
    blocks = request.body["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(image).decode()},
    }
    assert blocks[2]["source"] == {"type": "text", "media_type": "text/plain", "data": "the paper's text"}
    assert blocks[2]["title"] == "Paper"
    # The next turn's request (the worker now knows the session names files: read before the step's lock) still
    # carries them, resolved again.
    again = f"again {session.id}"
    client.beta.sessions.events.send(session.id, events=[user_message(again)])
    wait_for_idle_events(client, session.id, 2)
    request = next(r for r in reversed(model_server.requests) if again in str(r.body.get("messages")))
    assert request.body["messages"][0]["content"][1:] == blocks[1:]
    missing = user_message("x")
    missing["content"].append({"type": "image", "source": {"type": "file", "file_id": "file_missing"}})
    with pytest.raises(anthropic.NotFoundError) as refused:
        client.beta.sessions.events.send(session.id, events=[missing])
    assert "file_missing" in refused.value.message
