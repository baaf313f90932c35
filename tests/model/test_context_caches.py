"""The per-worker context caches read only what is new, and never serve what a rolled-back transaction showed.

Real databases (SQLite and PostgreSQL): the caches rely on what the store guarantees about ``seq``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from activities.model.anthropic_stream import messages_params
from activities.model.history import COMPACTED, History, load_history
from activities.model.history_cache import HistoryCache
from activities.model.request import ModelRequest
from activities.model.session_context import FileRefs, OutsideReads, SessionContext, locked_context
from dma.store import events as log
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session
from tests.conftest import new_database

SESSION = "sesn_cache"


class Boom(Exception):
    pass


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    url, drop = new_database(backend, tmp_path)
    database = Database.connect(url)
    now = datetime.now(UTC)
    async with database.write() as session:
        session.add(
            Session(
                id=SESSION,
                agent_id="agent_x",
                agent_version=1,
                agent={},
                environment_id="env_x",
                created_at=now,
                updated_at=now,
            )
        )
    yield database
    await database.dispose()
    drop()


def _message(index: int, file_id: str | None = None) -> NewEvent:
    content: list[dict[str, Any]] = [{"type": "text", "text": f"message {index}"}]
    if file_id is not None:
        content.append({"type": "document", "source": {"type": "file", "file_id": file_id}})
    return NewEvent(f"sevt_{index}", "user.message", {"content": content})


async def _append(db: Database, *events: NewEvent) -> None:
    async with db.write() as session:
        row = await log.lock_session(session, SESSION)
        assert row is not None
        await log.append(session, row, events)


def _count_reads(db: Database) -> list[str]:
    seen: list[str] = []

    def before(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "session_events" in statement:
            seen.append(statement)

    event.listen(db.writer.sync_engine, "before_cursor_execute", before)
    return seen


async def _load(db: Database, cache: HistoryCache) -> list[str]:
    async with db.write() as session:
        row = await log.lock_session(session, SESSION)
        assert row is not None
        history = await cache.load(session, row)
    return [event.id for event in history.rows]


async def _full(db: Database) -> list[str]:
    async with db.read() as session:
        return [row.id for row in (await load_history(session, SESSION)).rows]


async def test_a_step_reads_only_the_new_rows_and_sees_the_same_context(db: Database) -> None:
    cache = HistoryCache()
    await _append(db, _message(1), _message(2))
    assert await _load(db, cache) == await _full(db) == ["sevt_1", "sevt_2"]
    await _append(db, _message(3))
    reads = _count_reads(db)
    loaded = await _load(db, cache)
    # One read of the log (the lock's SELECT is of the session row), for the rows after the cached ones only.
    assert len(reads) == 1 and "seq >=" in reads[0] and (cache.hits, cache.misses) == (1, 1)
    assert loaded == await _full(db) == ["sevt_1", "sevt_2", "sevt_3"]
    reads.clear()
    assert await _load(db, cache) == ["sevt_1", "sevt_2", "sevt_3"]
    assert not reads  # nothing new: not even one read


async def _cached_history(db: Database, cache: HistoryCache) -> History:
    async with db.write() as session:
        row = await log.lock_session(session, SESSION)
        assert row is not None
        return await cache.load(session, row)


async def test_cached_turns_give_the_conversation_the_rows_give_and_resolve_files_each_time(db: Database) -> None:
    cache = HistoryCache()
    reply = NewEvent("sevt_r1", "agent.message", {"content": [{"type": "text", "text": "noted"}]})
    status = NewEvent("sevt_s1", "session.status_idle", {"stop_reason": {"type": "end_turn"}})
    use = NewEvent("sevt_u1", "agent.tool_use", {"name": "bash", "input": {"command": "ls"}})
    result = NewEvent("sevt_t1", "agent.tool_result", {"tool_use_id": "sevt_u1", "content": []})
    await _append(db, _message(1), _message(2, "file_a"), reply, status, use, result)
    await _cached_history(db, cache)  # the rows' turns are now kept
    # The last message is read from kept turns: the request's cache mark lands on a kept block's copy.
    again = NewEvent("sevt_r2", "agent.message", {"content": [{"type": "text", "text": "noted again"}]})
    await _append(db, _message(3, "file_b"), again, _message(4))
    text = {"type": "text", "media_type": "text/plain", "data": "A"}
    for files in ({"file_a": text}, {}, {"file_a": text, "file_b": text}):
        cached = replace(await _cached_history(db, cache), files=files)
        async with db.read() as session:
            full = History((await load_history(session, SESSION)).rows, files=files)
        assert cached.turns is not None and cache.hits > 0
        expected = full.messages()
        assert cached.messages() == expected
        # What a request does with the conversation (cache marks, the SDK's blocks) leaves the kept turns as they were.
        messages_params(ModelRequest(model="m", messages=cached.messages(), max_tokens=10))
        assert cached.messages() == expected
    document = cached.messages()[0]["content"][2]
    assert document == {"type": "document", "source": text}


async def test_rows_a_rolled_back_transaction_showed_are_not_kept(db: Database) -> None:
    cache = HistoryCache()
    await _append(db, _message(1))
    await _load(db, cache)
    with pytest.raises(Boom):
        async with db.write() as session:
            row = await log.lock_session(session, SESSION)
            assert row is not None
            await log.append(session, row, [_message(2)])
            assert [event.id for event in (await cache.load(session, row)).rows] == ["sevt_1", "sevt_2"]
            raise Boom
    # Another event takes the position the rolled-back one had.
    await _append(db, _message(3))
    assert await _load(db, cache) == await _full(db) == ["sevt_1", "sevt_3"]


async def test_a_compaction_among_the_new_rows_reads_the_context_afresh(db: Database) -> None:
    cache = HistoryCache()
    await _append(db, _message(1), _message(2))
    await _load(db, cache)
    compacted = NewEvent("sevt_compacted", COMPACTED, {}, extra={"summary": "earlier talk", "from_seq": 2})
    await _append(db, compacted, _message(3))
    async with db.write() as session:
        row = await log.lock_session(session, SESSION)
        assert row is not None
        history = await cache.load(session, row)
    assert [event.id for event in history.rows] == ["sevt_2", "sevt_3"] and history.summary == "earlier talk"
    assert cache.misses == 2


async def test_a_log_shorter_than_what_was_cached_is_read_afresh(db: Database) -> None:
    cache = HistoryCache()
    await _append(db, _message(1), _message(2))
    await _load(db, cache)
    async with db.write() as session:
        await log.delete_session_events(session, SESSION)
        row = await log.lock_session(session, SESSION)
        assert row is not None
        row.event_seq = 0
        session.add(row)
    await _append(db, _message(5))
    assert await _load(db, cache) == ["sevt_5"]


async def test_file_refs_find_files_in_new_and_queued_messages(db: Database) -> None:
    refs = FileRefs()

    async def referenced() -> set[str]:
        async with db.read() as session:
            row = await session.get(Session, SESSION)
            assert row is not None
            return await refs.referenced(session, row)

    await _append(db, _message(1, "file_a"), _message(2))
    assert await referenced() == {"file_a"}
    await _append(db, _message(3, "file_b"))
    async with db.write() as session:
        await log.insert_user_events(session, SESSION, [_message(4, "file_queued")])
    assert await referenced() == {"file_a", "file_b", "file_queued"}
    # Once the queued message is processed, it is remembered like the others.
    async with db.write() as session:
        row = await log.lock_session(session, SESSION)
        assert row is not None
        await log.mark_processed(session, row, ["sevt_4"], datetime.now(UTC))
    await _append(db, _message(5))
    assert await referenced() == {"file_a", "file_b", "file_queued"}


async def test_the_context_is_read_in_the_step_lock_only_without_files_or_custom_skills(db: Database) -> None:
    refs = FileRefs()

    async def in_lock(agent: dict[str, Any]) -> SessionContext | None:
        async with db.write() as session:
            row = await log.lock_session(session, SESSION)
            assert row is not None
            row.agent = agent
            return await locked_context(session, row, refs)

    await _append(db, _message(1))
    assert await in_lock({"system": "Be brief."}) == SessionContext("Be brief.", {})
    # Custom skills are two reads each (up to 64 of them): read before the lock, not while holding it.
    assert await in_lock({"skills": [{"type": "custom", "skill_id": "skill_x", "version": "latest"}]}) is None
    assert await in_lock({"skills": [{"type": "anthropic", "skill_id": "pdf"}]}) is not None
    # A message that names a file, processed or still queued: its bytes are read before the lock.
    async with db.write() as session:
        await log.insert_user_events(session, SESSION, [_message(2, "file_a")])
    assert await in_lock({}) is None
    outside = OutsideReads(max_sessions=2)
    for session_id in ("sesn_a", "sesn_b", "sesn_c"):
        outside.add(session_id)
    assert "sesn_a" not in outside and "sesn_b" in outside and "sesn_c" in outside
