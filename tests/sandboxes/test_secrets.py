"""The worker's secrets never reach a sandbox: canaries in the worker's environment and data dir stay invisible from
inside, on both backends, through the shell and through the file tools' helper processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activities.sandboxes import SandboxManager
from tests.sandboxes import canaries as canary
from tests.sandboxes.canaries import Canaries
from tests.sandboxes.fixtures import Caller, new_session_id


@pytest.fixture
def canaries(manager: SandboxManager, monkeypatch: pytest.MonkeyPatch) -> Iterator[Canaries]:
    data_dir = manager.workspace("x").parents[2]
    yield canary.plant(monkeypatch, data_dir)
    canary.remove(data_dir)


async def test_worker_environment_and_files_are_unreachable_from_the_shell(
    manager: SandboxManager, canaries: Canaries
) -> None:
    call = Caller(manager, new_session_id())
    probe = await call.bash(canaries.probe(), timeout_ms=60000)
    canaries.check_probe_output(probe.full_text)
    assert "HOME=/root" not in probe.full_text
    data_dir = manager.workspace("x").parents[2]
    for name in canary.CANARY_FILES:
        read = await call("read", file_path=str(data_dir / name))
        assert read.is_error
        canaries.assert_absent(read.full_text)
    await manager.destroy(call.spec.session_id)


async def test_file_tool_helpers_get_no_worker_environment(manager: SandboxManager, canaries: Canaries) -> None:
    call = Caller(manager, new_session_id())
    async with manager.use(call.spec) as sandbox:
        own = await sandbox.run(["cat", "/proc/self/environ"], None, 30)
        init = await sandbox.run(["cat", "/proc/1/environ"], None, 30)
        probe = await sandbox.run(["bash", "-c", canaries.probe()], None, 60)
    for result in (own, init):
        assert result.exit_code == 0 and b"PATH=" in result.output, result.output
        assert b"HOME=/root" not in result.output
        canaries.assert_absent(result.text())
    canaries.check_probe_output(probe.text())
    await manager.destroy(call.spec.session_id)
