"""Memory stores mounted in sessions, on both sandbox backends: file tools and bash write memories, another session
reads them, versions name the session, racing writers get a conflict (never a lost write), read-only mounts refuse."""

from __future__ import annotations

import time

import anthropic

from tests.api.sessions_with_tools import ToolSession, text_of
from tests.fakes.model_server import FakeModelServer

TODO = "/mnt/memory/notes/todo.md"


def attach(store_id: str, access: str = "read_write", instructions: str | None = None) -> list[dict[str, object]]:
    resource: dict[str, object] = {"type": "memory_store", "memory_store_id": store_id, "access": access}
    if instructions:
        resource["instructions"] = instructions
    return [resource]


def test_memory_written_in_one_session_is_read_in_the_next(
    sandbox_client: anthropic.Anthropic, model_server: FakeModelServer
) -> None:
    client = sandbox_client
    store = client.beta.memory_stores.create(name="notes", description="Things to remember for the user")
    instructions = f"Keep one todo list in todo.md ({store.id})"
    first = ToolSession(client, resources=attach(store.id, instructions=instructions))
    written = first.run("write", {"file_path": TODO, "content": "buy milk\n"})
    assert not written.is_error, text_of(written)
    appended = first.run("bash", {"command": f"echo 'call mom' >> {TODO} && cat {TODO}"})
    assert not appended.is_error and "call mom" in text_of(appended)
    memories = list(client.beta.memory_stores.memories.list(store.id, view="full"))
    assert [(m.path, m.content) for m in memories] == [("/todo.md", "buy milk\ncall mom\n")]
    versions = list(client.beta.memory_stores.memory_versions.list(store.id, view="full"))
    assert [v.operation for v in versions] == ["modified", "created"]
    assert [v.content for v in versions] == ["buy milk\ncall mom\n", "buy milk\n"]
    for version in versions:
        assert version.created_by is not None and version.created_by.type == "session_actor"
        assert version.created_by.session_id == first.id  # type: ignore[union-attr]
    mine = list(client.beta.memory_stores.memory_versions.list(store.id, session_id=first.id))
    assert len(mine) == 2
    system = next(r.body.get("system") for r in reversed(model_server.requests) if instructions in str(r.body))
    assert "/mnt/memory/notes (read-write)" in str(system) and "Things to remember for the user" in str(system)

    second = ToolSession(client, resources=attach(store.id))
    read = second.run("read", {"file_path": TODO})
    assert "buy milk" in text_of(read) and "call mom" in text_of(read)
    removed = second.run(
        "bash", {"command": f"rm {TODO} && mkdir -p /mnt/memory/notes/sub && echo x > /mnt/memory/notes/sub/n.md"}
    )
    assert not removed.is_error, text_of(removed)
    paths = [m.path for m in client.beta.memory_stores.memories.list(store.id)]
    assert paths == ["/sub/n.md"]
    assert [s.id for s in client.beta.sessions.list(memory_store_id=store.id)] == [second.id, first.id]


def test_racing_sessions_get_a_conflict_never_a_lost_write(sandbox_client: anthropic.Anthropic) -> None:
    client = sandbox_client
    store = client.beta.memory_stores.create(name="notes")
    client.beta.memory_stores.memories.create(store.id, path="/todo.md", content="start\n")
    slow, fast = ToolSession(client, resources=attach(store.id)), ToolSession(client, resources=attach(store.id))
    assert "start" in text_of(slow.run("read", {"file_path": TODO}))
    assert "start" in text_of(fast.run("read", {"file_path": TODO}))
    slow.send("bash", {"command": f"sleep 4; echo from-slow >> {TODO}"})
    time.sleep(2)  # the slow call has read the store and is sleeping
    won = fast.run("bash", {"command": f"echo from-fast >> {TODO}"})
    assert not won.is_error, text_of(won)
    lost = slow.result()
    assert lost.is_error and "was not saved" in text_of(lost) and "/mnt/memory/notes/todo.md" in text_of(lost)
    memory = client.beta.memory_stores.memories.list(store.id, view="full").data[0]
    assert memory.content == "start\nfrom-fast\n"  # type: ignore[union-attr]
    contents = [v.content for v in client.beta.memory_stores.memory_versions.list(store.id, view="full")]
    assert not any("from-slow" in (c or "") for c in contents), "the refused change was never stored"
    shown = slow.run("read", {"file_path": TODO})
    assert "from-fast" in text_of(shown) and "from-slow" not in text_of(shown), "the file shows the stored version"


def test_read_only_mounts_refuse_writes(sandbox_client: anthropic.Anthropic) -> None:
    client = sandbox_client
    store = client.beta.memory_stores.create(name="notes")
    client.beta.memory_stores.memories.create(store.id, path="/todo.md", content="keep\n")
    session = ToolSession(client, resources=attach(store.id, access="read_only"))
    assert "keep" in text_of(session.run("read", {"file_path": TODO}))
    assert session.run("write", {"file_path": TODO, "content": "changed"}).is_error
    assert session.run("bash", {"command": f"echo more >> {TODO}"}).is_error
    assert session.run("write", {"file_path": "/mnt/memory/notes/new.md", "content": "x"}).is_error
    memories = list(client.beta.memory_stores.memories.list(store.id, view="full"))
    assert [(m.path, m.content) for m in memories] == [("/todo.md", "keep\n")]
    client.beta.memory_stores.memories.create(store.id, path="/later.md", content="from the api")
    assert "from the api" in text_of(session.run("read", {"file_path": "/mnt/memory/notes/later.md"}))
