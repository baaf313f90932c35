"""Memory stores, memories and versions through the SDK (scenario 23): path rules, preconditions, listing, redaction."""

from __future__ import annotations

import hashlib

import anthropic
import pytest

from tests.api.recording import Recorder
from tests.api.sessions_with_tools import ToolSession, text_of
from tests.helpers import make_session


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_scenario_23(recorded: tuple[anthropic.Anthropic, Recorder]) -> None:
    client, recorder = recorded
    store = client.beta.memory_stores.create(name="Prefs!")
    assert store.type == "memory_store" and store.description == "" and store.metadata == {}
    memory = client.beta.memory_stores.memories.create(store.id, path="/a.md", content="hello")
    assert recorder.last("POST", "/memories").headers["anthropic-beta"] == "agent-memory-2026-07-22"
    assert memory.content_sha256 == sha("hello") and memory.content is None and memory.content_size_bytes == 5
    retries = len(recorder.requests)
    with pytest.raises(anthropic.ConflictError) as conflict:
        client.beta.memory_stores.memories.create(store.id, path="/a.md", content="again")
    assert conflict.value.type == "memory_path_conflict_error"
    assert len(recorder.requests) == retries + 1, "x-should-retry: false stops the SDK from repeating it"
    with pytest.raises(anthropic.ConflictError) as failed:
        client.beta.memory_stores.memories.update(
            memory.id,
            memory_store_id=store.id,
            content="x",
            precondition={"type": "content_sha256", "content_sha256": "0" * 64},
        )
    assert failed.value.type == "memory_precondition_failed_error"
    versions = list(client.beta.memory_stores.memory_versions.list(store.id))
    assert [v.operation for v in versions] == ["created"]
    assert versions[0].created_by is not None and versions[0].created_by.type == "api_actor"
    listed = client.beta.memory_stores.memories.list(store.id, path_prefix="/", depth=1)
    assert [item.path for item in listed.data] == ["/a.md"]
    # And in a sandbox: mounted at its slug (each run of other characters a '-'), showing the stored content, not the
    # refused update.
    session = ToolSession(client, resources=[{"type": "memory_store", "memory_store_id": store.id}])
    mount = session.session.resources[0].mount_path  # type: ignore[union-attr]
    assert mount == "/mnt/memory/prefs-"
    assert text_of(session.run("bash", {"command": f"cat {mount}/a.md"})) == "hello"


def test_path_rules(client: anthropic.Anthropic) -> None:
    store = client.beta.memory_stores.create(name="rules")
    memories = client.beta.memory_stores.memories
    bad = ["a.md", "/", "/a//b", "/a/./b", "/a/../b", "/a\x01b", "/a\u2028b", "/e\u0301", "/" + "/".join(["s"] * 21)]
    for path in bad + ["/" + "x" * 1100]:
        with pytest.raises(anthropic.BadRequestError):
            memories.create(store.id, path=path, content="x")
    memories.create(store.id, path="/a/b.md", content="x")
    for taken in ("/a", "/a/b.md/c", "/a/b.md"):
        with pytest.raises(anthropic.ConflictError):
            memories.create(store.id, path=taken, content="x")
    assert memories.create(store.id, path="/A/b.md", content="case matters").path == "/A/b.md"
    with pytest.raises(anthropic.BadRequestError):
        memories.create(store.id, path="/big.md", content="x" * 102_401)
    assert memories.create(store.id, path="/empty.md", content=None).content_size_bytes == 0


def test_update_rename_delete_and_versions(client: anthropic.Anthropic) -> None:
    store = client.beta.memory_stores.create(name="notes", description="what to remember")
    memories = client.beta.memory_stores.memories
    created = memories.create(store.id, path="/todo.md", content="one")
    same = memories.update(created.id, memory_store_id=store.id, content="one")
    assert same.memory_version_id == created.memory_version_id, "an unchanged update writes no version"
    changed = memories.update(
        created.id,
        memory_store_id=store.id,
        content="two",
        precondition={"type": "content_sha256", "content_sha256": sha("one")},
        view="full",
    )
    assert changed.content == "two" and changed.memory_version_id != created.memory_version_id
    memories.create(store.id, path="/other.md", content="o")
    with pytest.raises(anthropic.ConflictError):
        memories.update(created.id, memory_store_id=store.id, path="/other.md")
    moved = memories.update(created.id, memory_store_id=store.id, path="/done/todo.md")
    assert moved.path == "/done/todo.md" and moved.id == created.id
    assert memories.retrieve(created.id, memory_store_id=store.id).content == "two"
    with pytest.raises(anthropic.ConflictError):
        memories.delete(created.id, memory_store_id=store.id, expected_content_sha256=sha("one"))
    memories.delete(created.id, memory_store_id=store.id, expected_content_sha256=sha("two"))
    with pytest.raises(anthropic.NotFoundError):
        memories.retrieve(created.id, memory_store_id=store.id)
    history = list(client.beta.memory_stores.memory_versions.list(store.id, memory_id=created.id))
    assert [v.operation for v in history] == ["deleted", "modified", "modified", "created"]
    full = client.beta.memory_stores.memory_versions.retrieve(history[-1].id, memory_store_id=store.id)
    assert full.content == "one"
    redacted = client.beta.memory_stores.memory_versions.redact(history[-1].id, memory_store_id=store.id)
    assert redacted.content is None and redacted.path is None and redacted.content_sha256 is None
    assert redacted.redacted_at is not None and redacted.redacted_by is not None
    only_modified = client.beta.memory_stores.memory_versions.list(store.id, operation="modified")
    assert {v.operation for v in only_modified} == {"modified"}


def test_listing_with_depth_prefix_and_pages(client: anthropic.Anthropic) -> None:
    store = client.beta.memory_stores.create(name="tree")
    memories = client.beta.memory_stores.memories
    for path in ("/a.md", "/notes/x.md", "/notes/y.md", "/notes/deep/z.md", "/notes-archive/old.md", "/z/q.md"):
        memories.create(store.id, path=path, content=path)
    top = memories.list(store.id, depth=1)
    assert [(i.type, i.path) for i in top.data] == [
        ("memory", "/a.md"),
        ("memory_prefix", "/notes-archive/"),
        ("memory_prefix", "/notes/"),
        ("memory_prefix", "/z/"),
    ]
    notes = memories.list(store.id, path_prefix="/notes/", depth=1)
    assert [(i.type, i.path) for i in notes.data] == [
        ("memory_prefix", "/notes/deep/"),
        ("memory", "/notes/x.md"),
        ("memory", "/notes/y.md"),
    ]
    everything = [i.path for i in memories.list(store.id, path_prefix="/notes/", limit=1)]
    assert everything == ["/notes/deep/z.md", "/notes/x.md", "/notes/y.md"]
    paged = [i.path for i in memories.list(store.id, depth=1, limit=1)]
    assert paged == ["/a.md", "/notes-archive/", "/notes/", "/z/"]
    with pytest.raises(anthropic.BadRequestError):
        memories.list(store.id, path_prefix="/notes")
    full = memories.list(store.id, view="full", limit=100)
    assert len(full.data) == 6 and all(i.content is not None for i in full.data if i.type == "memory")


def test_store_lifecycle_and_session_filter(client: anthropic.Anthropic) -> None:
    store = client.beta.memory_stores.create(name="Team Notes", metadata={"k": "v"})
    updated = client.beta.memory_stores.update(store.id, description="d", metadata={"k": None, "n": "1"})
    assert updated.description == "d" and updated.metadata == {"n": "1"}
    session = make_session(client, resources=[{"type": "memory_store", "memory_store_id": store.id}])
    resource = session.resources[0]
    assert resource.type == "memory_store" and resource.mount_path == "/mnt/memory/team-notes"
    assert resource.access == "read_write" and resource.name == "Team Notes" and resource.description == "d"
    other = make_session(client)
    found = [s.id for s in client.beta.sessions.list(memory_store_id=store.id)]
    assert found == [session.id] and other.id not in found
    memory = client.beta.memory_stores.memories.create(store.id, path="/keep.md", content="k")
    archived = client.beta.memory_stores.archive(store.id)
    assert archived.archived_at is not None
    assert store.id not in [s.id for s in client.beta.memory_stores.list()]
    assert store.id in [s.id for s in client.beta.memory_stores.list(include_archived=True)]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.memory_stores.memories.create(store.id, path="/new.md", content="x")
    with pytest.raises(anthropic.BadRequestError):
        make_session(client, resources=[{"type": "memory_store", "memory_store_id": store.id}])
    assert client.beta.memory_stores.memories.retrieve(memory.id, memory_store_id=store.id).content == "k"
    client.beta.memory_stores.memories.delete(memory.id, memory_store_id=store.id)
    deleted = client.beta.memory_stores.delete(store.id)
    assert deleted.type == "memory_store_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.memory_stores.retrieve(store.id)
