"""The tool activities against a real SQLite event log and real sandboxes (both backends)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.sandboxes import SandboxManager
from activities.tools.activities import ToolActivities
from dma.bus import LocalBus
from dma.clock import utcnow
from dma.ids import event_id
from dma.settings import WorkerSettings
from dma.store import events as log
from dma.store import migrate
from dma.store.engine import Database
from dma.store.events import NewEvent
from dma.store.tables import Session, SessionEvent
from tests.sandboxes.fixtures import new_session_id
from workflows.contracts import DestroyRequest, ProvisionRequest, SandboxSpec, ToolCallRequest, ToolUseRef

TOOLSET = {
    "type": "agent_toolset_20260401",
    "default_config": {"enabled": True, "permission_policy": {"type": "always_allow"}},
    "configs": [{"name": "web_search", "type": "web_search", "enabled": False}],
}
ENVIRONMENT = {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": []}, "packages": {}}


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tool-activities') / 'dma.db'}"
    migrate.upgrade(url)
    db = Database.connect(url)
    yield db
    await db.dispose()


@pytest.fixture
def activities(database: Database, manager: SandboxManager) -> ToolActivities:
    return ToolActivities(database, LocalBus(), manager, WorkerSettings(host_name="host-a"))


async def new_session(db: Database, environment: dict[str, Any] | None = None) -> str:
    sid = new_session_id()
    now = utcnow()
    async with db.write() as session:
        session.add(
            Session(
                id=sid, agent_id="agent_x", agent_version=1, agent={"tools": [TOOLSET]}, environment_id="env_x",
                environment_config=environment or ENVIRONMENT, meta={}, usage={}, vault_ids=[], resources=[],
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return sid


async def tool_use(db: Database, sid: str, step: int, name: str, tool_input: dict[str, Any]) -> ToolCallRequest:
    use_id = event_id(sid, "test-run", step, f"tool_use:{uuid.uuid4().hex}")
    async with db.write() as session:
        row = await log.lock_session(session, sid)
        assert row is not None
        body = {"name": name, "input": tool_input, "evaluated_permission": "allow"}
        await log.append(session, row, [NewEvent(use_id, "agent.tool_use", body, step)])
    return ToolCallRequest(session_id=sid, step=step, tool_use=ToolUseRef(event_id=use_id, name=name))


async def result_of(db: Database, request: ToolCallRequest) -> SessionEvent:
    async with db.read() as session:
        statement = select(SessionEvent).where(
            SessionEvent.ref == request.tool_use.event_id, SessionEvent.type == "agent.tool_result"
        )
        row = (await session.exec(statement)).first()
    assert row is not None
    return row


async def test_provision_returns_this_hosts_queue(activities: ToolActivities, manager: SandboxManager) -> None:
    sid = new_session_id()
    handle = await ActivityEnvironment().run(
        activities.provision_sandbox, ProvisionRequest(spec=SandboxSpec(session_id=sid), generation=2)
    )
    assert (handle.host, handle.task_queue, handle.backend, handle.generation) == (
        "host-a", "sandbox@host-a", manager.backend, 2
    )  # fmt: skip
    assert manager.get(sid) is not None and manager.workspace(sid).is_dir()
    await ActivityEnvironment().run(activities.destroy_sandbox, DestroyRequest(session_id=sid))
    assert manager.get(sid) is None and not manager.workspace(sid).exists()


async def test_run_tool_records_the_result_once(activities: ToolActivities, database: Database) -> None:
    sid = await new_session(database)
    request = await tool_use(database, sid, 3, "bash", {"command": "echo ran >> count.txt; wc -l < count.txt"})
    reply = await ActivityEnvironment().run(activities.run_tool, request)
    assert reply.is_error is False
    row = await result_of(database, request)
    assert row.type == "agent.tool_result" and row.step == 3
    assert row.body == {
        "tool_use_id": request.tool_use.event_id,
        "content": [{"type": "text", "text": "1"}],
        "is_error": False,
    }
    # A retried attempt finds the recorded result and does not run the command again.
    again = await ActivityEnvironment().run(activities.run_tool, request)
    assert again.is_error is False
    check = await tool_use(database, sid, 4, "read", {"file_path": "count.txt"})
    await ActivityEnvironment().run(activities.run_tool, check)
    assert (await result_of(database, check)).body["content"][0]["text"] == "     1\tran\n"


async def test_sandbox_is_created_lazily_from_the_session_row(
    activities: ToolActivities, database: Database, manager: SandboxManager
) -> None:
    sid = await new_session(database)
    assert manager.get(sid) is None
    request = await tool_use(database, sid, 1, "write", {"file_path": "a.txt", "content": "hi"})
    assert (await ActivityEnvironment().run(activities.run_tool, request)).is_error is False
    assert (manager.workspace(sid) / "a.txt").read_text() == "hi"


async def test_disabled_unknown_and_self_hosted_tools_give_error_results(
    activities: ToolActivities, database: Database
) -> None:
    sid = await new_session(database)
    disabled = await tool_use(database, sid, 1, "web_search", {"query": "x"})
    assert (await ActivityEnvironment().run(activities.run_tool, disabled)).is_error
    assert "not enabled" in (await result_of(database, disabled)).body["content"][0]["text"]
    unknown = await tool_use(database, sid, 1, "rm_rf", {})
    assert (await ActivityEnvironment().run(activities.run_tool, unknown)).is_error
    hosted = await new_session(database, {"type": "self_hosted"})
    client_side = await tool_use(database, hosted, 1, "bash", {"command": "true"})
    assert (await ActivityEnvironment().run(activities.run_tool, client_side)).is_error
    assert "self_hosted" in (await result_of(database, client_side)).body["content"][0]["text"]


async def test_truncated_output_keeps_the_full_text_privately(activities: ToolActivities, database: Database) -> None:
    sid = await new_session(database)
    request = await tool_use(database, sid, 1, "bash", {"command": "seq 1 50000"})
    await ActivityEnvironment().run(activities.run_tool, request)
    row = await result_of(database, request)
    assert len(row.body["content"][0]["text"]) < 31_000
    assert row.extra is not None and row.extra["full_text"].endswith("\n50000")


async def test_cancel_kills_the_running_command(
    activities: ToolActivities, database: Database, manager: SandboxManager
) -> None:
    sid = await new_session(database)
    request = await tool_use(database, sid, 1, "bash", {"command": "sleep 60"})
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run(activities.run_tool, request))
    await asyncio.sleep(1.5)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with database.read() as session:
        rows = (await session.exec(select(SessionEvent).where(SessionEvent.session_id == sid))).all()
    assert [row.type for row in rows] == ["agent.tool_use"]
    follow = await tool_use(database, sid, 2, "bash", {"command": "cat /proc/[0-9]*/stat | cut -d' ' -f1-4"})
    await ActivityEnvironment().run(activities.run_tool, follow)
    listing = (await result_of(database, follow)).body["content"][0]["text"]
    assert "(sleep) S 0" not in listing and len(listing.splitlines()) <= 5, listing


async def test_deleted_session_fails_non_retryably(activities: ToolActivities, database: Database) -> None:
    request = ToolCallRequest(session_id="sesn_gone", step=1, tool_use=ToolUseRef(event_id="sevt_x", name="bash"))
    with pytest.raises(ApplicationError) as failure:
        await ActivityEnvironment().run(activities.run_tool, request)
    assert failure.value.non_retryable


def test_host_id_is_required(database: Database, manager: SandboxManager) -> None:
    with pytest.raises(ValueError, match="host id"):
        ToolActivities(database, LocalBus(), manager, WorkerSettings(host_name=""))
    named = ToolActivities(database, LocalBus(), manager, WorkerSettings(), host_id="h2", task_queue="q")
    assert (named.host_id, named.task_queue) == ("h2", "q")
    assert Path(manager.workspace("sesn_a")).name == "workspace"
