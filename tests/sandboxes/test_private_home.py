"""A data dir under a home directory only its owner may enter (0700, as on Debian and Ubuntu) still gives working
sandboxes on both backends, without changing any permission on the way."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.sandboxes import SandboxManager
from tests.sandboxes.fixtures import BACKENDS, TEST_LIMITS, Caller, new_session_id
from tests.stack import private_data_dir, remove_private_data_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=BACKENDS)
async def private_manager(request: pytest.FixtureRequest) -> AsyncIterator[SandboxManager]:
    data_dir = private_data_dir("dma-private-home-")
    sandboxes = SandboxManager(data_dir, request.param, limits=TEST_LIMITS)
    yield sandboxes
    for session in list(sandboxes._entries):  # pyright: ignore[reportPrivateUsage]
        await sandboxes.destroy(session)
    await sandboxes.close()
    remove_private_data_dir(data_dir)


async def test_tools_work_from_a_data_dir_under_a_private_home(private_manager: SandboxManager) -> None:
    data_dir = private_manager.workspace("x").parents[2]
    home = data_dir.parent
    assert _mode(home) == 0o700, "the home dir is not traversable by others"
    data_dir_mode = _mode(data_dir)
    (home / "home-marker.txt").write_text("host only")
    (data_dir / "data-marker.txt").write_text("host only")
    call = Caller(private_manager, new_session_id())
    shell = await call.bash("echo hi; id -u; pwd")
    assert not shell.is_error and shell.text_for_model.split() == ["hi", "1000", "/workspace"], shell.text_for_model
    assert not (await call("write", file_path="notes.txt", content="kept\n")).is_error
    assert (await call("read", file_path="notes.txt")).text_for_model == "     1\tkept\n"
    assert (await call.bash("cat notes.txt")).text_for_model == "kept"
    assert (private_manager.workspace(call.spec.session_id) / "notes.txt").read_text() == "kept\n"
    # Neither the data dir nor the home dir is visible inside, and nothing was opened up on the host to get here.
    seen = await call.bash(f"ls {data_dir} {home} 2>/dev/null; ls / /tmp; cat {home}/*.txt {data_dir}/*.txt; true")
    assert "marker" not in seen.text_for_model and "host only" not in seen.text_for_model, seen.text_for_model
    assert _mode(home) == 0o700 and _mode(data_dir) == data_dir_mode
    await private_manager.destroy(call.spec.session_id)
    assert not private_manager.workspace(call.spec.session_id).exists()
