"""The Files API through the SDK (scenario 24): streamed uploads, hostile names, limits, lists, downloads, deletes."""

from __future__ import annotations

import hashlib
import os

import anthropic
import httpx
import pytest

from tests.api.recording import Recorder
from tests.api.sessions_with_tools import ToolSession, text_of
from tests.helpers import make_session
from tests.stack import Stack

MIB = 1024 * 1024


def test_scenario_24_upload_attach_list_download(recorded: tuple[anthropic.Anthropic, Recorder]) -> None:
    client, recorder = recorded
    uploaded = client.beta.files.upload(file=("a.txt", b"hi", "text/plain"))
    request = recorder.last("POST", "/v1/files")
    assert "anthropic-beta" not in request.headers, "the SDK sends no beta header on files"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="a.txt"' in request.read()
    assert uploaded.id.startswith("file_") and uploaded.filename == "a.txt" and uploaded.size_bytes == 2
    assert uploaded.mime_type == "text/plain" and uploaded.downloadable is True and uploaded.scope is None
    session = make_session(client, resources=[{"type": "file", "file_id": uploaded.id}])
    resources = list(client.beta.sessions.resources.list(session.id))
    assert len(resources) == 1 and resources[0].type == "file" and resources[0].id.startswith("sesrsc_")
    assert resources[0].mount_path == f"/mnt/session/uploads/{uploaded.id}"  # type: ignore[union-attr]
    assert client.beta.sessions.retrieve(session.id).resources[0].id == resources[0].id  # type: ignore[union-attr]
    assert client.beta.files.download(uploaded.id).read() == b"hi"
    assert client.beta.files.retrieve_metadata(uploaded.id).filename == "a.txt"
    # And in a sandbox: the file is at its mount path.
    tools = ToolSession(client, resources=[{"type": "file", "file_id": uploaded.id}])
    assert text_of(tools.run("bash", {"command": f"cat /mnt/session/uploads/{uploaded.id}"})) == "hi"


def test_a_50_mib_upload_downloads_byte_identical(client: anthropic.Anthropic) -> None:
    data = os.urandom(50 * MIB)
    uploaded = client.beta.files.upload(file=("big.bin", data, "application/octet-stream"))
    assert uploaded.size_bytes == len(data)
    downloaded = client.beta.files.download(uploaded.id).read()
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()


def test_hostile_names_are_stored_safely_or_refused(client: anthropic.Anthropic, stack: Stack) -> None:
    traversal = client.beta.files.upload(file=("../../etc/passwd", b"root", "text/plain"))
    assert traversal.filename == "passwd", "only the final path component is kept"
    assert client.beta.files.download(traversal.id).read() == b"root"
    windows = client.beta.files.upload(file=("..\\..\\boot.ini", b"x", "text/plain"))
    assert windows.filename == "boot.ini"
    dots = client.beta.files.upload(file=("..", b"x", "text/plain"))
    assert dots.filename.startswith("unnamed")
    # The SDK (httpx) percent-encodes NUL, CR, LF and quotes in part filenames: the name is stored as sent, inert.
    escaped = client.beta.files.upload(file=("a\x00b.txt", b"x", "text/plain"))
    assert escaped.filename == "a%00b.txt" and "\x00" not in escaped.filename
    for hostile in ("x" * 5000, "rtl\u202etxt.exe"):
        with pytest.raises(anthropic.BadRequestError):
            client.beta.files.upload(file=(hostile, b"x", "text/plain"))
    # Raw NUL or control bytes in the part header are refused.
    for raw_name in (b"a\x00b.txt", b"tab\there.txt"):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + raw_name + b'"\r\n'
            b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
        )
        with httpx.Client(base_url=stack.base_url, headers={"x-api-key": "test-key"}) as http:
            refused = http.post("/v1/files", content=body, headers={"content-type": "multipart/form-data; boundary=b"})
        assert refused.status_code == 400, raw_name
    # Nothing escaped the store: no file named passwd appeared outside the data dir's blob store.
    store = stack.data_dir / "files"
    assert all(path.name != "passwd" for path in store.rglob("*"))
    unicode_name = client.beta.files.upload(file=("résumé 2026.pdf", b"%PDF", "application/pdf"))
    with httpx.Client(base_url=stack.base_url, headers={"x-api-key": "test-key"}) as http:
        response = http.get(f"/v1/files/{unicode_name.id}/content")
    assert response.content == b"%PDF"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf" in response.headers["content-disposition"]


def test_upload_limit_and_bad_forms(stack: Stack) -> None:
    headers = {"x-api-key": "test-key"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as http:
        missing = http.post("/v1/files", files={"other": ("a.txt", b"x")})
        assert missing.status_code == 400 and "file" in missing.json()["error"]["message"]
        twice = http.post("/v1/files", files=[("file", ("a", b"x")), ("file", ("b", b"y"))])
        assert twice.status_code == 400
        expires = http.post("/v1/files", files={"file": ("a", b"x")}, data={"expires_in_seconds": "5"})
        assert expires.status_code == 400 and "expires_in_seconds" in expires.json()["error"]["message"]
        ok = http.post("/v1/files", files={"file": ("a", b"x")}, data={"expires_in_seconds": "3600"})
        assert ok.status_code == 200 and ok.json()["expires_at"] is not None
        json_body = http.post("/v1/files", json={"file": "x"})
        assert json_body.status_code == 400
        garbage = http.post(
            "/v1/files", content=b"--b\r\nnot a part", headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert garbage.status_code == 400


def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    stack: Stack, temporal_server: object, model_server: object
) -> None:
    from tests.stack import Stack as StackType

    small = StackType(
        stack.database_url,
        stack.temporal_address,
        stack.model_url,
        stack.data_dir,
        api_overrides={"max_upload_bytes": 1024},
        with_worker=False,
    ).start()
    try:
        with anthropic.Anthropic(api_key="test-key", base_url=small.base_url, max_retries=0) as client:
            before = {f.id for f in client.beta.files.list(limit=1000)}
            with pytest.raises(anthropic.APIStatusError) as caught:
                client.beta.files.upload(file=("big.bin", b"x" * 4096, "application/octet-stream"))
            assert caught.value.status_code == 413 and "DMA_MAX_UPLOAD_BYTES" in caught.value.message
            assert {f.id for f in client.beta.files.list(limit=1000)} == before
            client.beta.files.upload(file=("ok.bin", b"x" * 1000, "application/octet-stream"))
    finally:
        small.stop()
    leftovers = list((stack.data_dir / "files" / "tmp").iterdir())
    assert leftovers == [], "an aborted upload leaves no temporary file"


def test_list_by_ids_scope_and_delete(client: anthropic.Anthropic) -> None:
    first = client.beta.files.upload(file=("one.txt", b"same bytes", "text/plain"))
    second = client.beta.files.upload(file=("two.txt", b"same bytes", "text/plain"))
    listed = client.beta.files.list(ids=[first.id, second.id, "file_missing"])
    assert [f.id for f in listed.data] == [second.id, first.id] and listed.next_page is None
    with pytest.raises(anthropic.BadRequestError):
        client.beta.files.list(ids=[first.id], limit=5)
    page = client.beta.files.list(limit=2)
    assert len(page.data) == 2 and page.next_page is not None
    ids = [f.id for f in page]
    assert len(ids) > 2 and len(ids) == len(set(ids)), "iterating follows next_page to the end"
    assert list(client.beta.files.list(scope_id="sesn_nothing")) == []
    deleted = client.beta.files.delete(first.id)
    assert deleted.id == first.id and deleted.type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.retrieve_metadata(first.id)
    assert client.beta.files.download(second.id).read() == b"same bytes", "a shared blob outlives one of its files"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.download("file_doesnotexist")


def test_session_resource_rules(client: anthropic.Anthropic) -> None:
    uploaded = client.beta.files.upload(file=("a.txt", b"hi", "text/plain"))
    with pytest.raises(anthropic.NotFoundError):
        make_session(client, resources=[{"type": "file", "file_id": "file_missing"}])
    for bad in ("/etc/passwd", "relative/path", "/workspace/../etc", "/mnt/memory/x", "/mnt/session/outputs/x"):
        with pytest.raises(anthropic.BadRequestError):
            make_session(client, resources=[{"type": "file", "file_id": uploaded.id, "mount_path": bad}])
    with pytest.raises(anthropic.BadRequestError):
        make_session(
            client,
            resources=[
                {"type": "file", "file_id": uploaded.id, "mount_path": "/workspace/a"},
                {"type": "file", "file_id": uploaded.id, "mount_path": "/workspace/a"},
            ],
        )
    session = make_session(
        client, resources=[{"type": "file", "file_id": uploaded.id, "mount_path": "/workspace/in.txt"}]
    )
    added = client.beta.sessions.resources.add(session.id, file_id=uploaded.id, type="file")
    assert added.mount_path == f"/mnt/session/uploads/{uploaded.id}"
    assert client.beta.sessions.resources.retrieve(added.id, session_id=session.id).id == added.id
    assert len(client.beta.sessions.retrieve(session.id).resources) == 2
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.resources.update(added.id, session_id=session.id, authorization_token="t")
    gone = client.beta.sessions.resources.delete(added.id, session_id=session.id)
    assert gone.type == "session_resource_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.resources.retrieve(added.id, session_id=session.id)
    assert [r.id for r in client.beta.sessions.resources.list(session.id)] != [added.id]
    assert len(client.beta.sessions.retrieve(session.id).resources) == 1
