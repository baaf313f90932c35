"""One-shot commands beside the shell (what the file tools run on).

Timeouts, cancellation, concurrency and large input on both backends; the bwrap sandbox's door (``enter.py``) is
invisible inside, survives its own death and dies with the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from activities.sandboxes import Sandbox, SandboxManager
from activities.sandboxes.bwrap import BwrapSandbox
from tests.sandboxes.fixtures import TEST_LIMITS, Caller, new_data_dir, new_session_id
from tests.stack import remove_private_data_dir

# Processes of the sandbox that run something other than its init, its main process and the shell.
LEFTOVERS = "for c in /proc/[0-9]*/cmdline; do { tr '\\0' ' ' < $c; } 2>/dev/null; echo; done | grep -c '^sleep 3[01] '"


async def leftovers(call: Caller) -> int:
    return int((await call.bash(f"{LEFTOVERS}; true")).text_for_model.strip())


async def test_a_timed_out_command_and_its_children_are_killed(manager: SandboxManager, call: Caller) -> None:
    async with manager.use(call.spec) as sandbox:
        began = time.monotonic()
        result = await sandbox.run(["sh", "-c", "echo started; sleep 30 & sleep 31; wait"], None, 1)
        assert time.monotonic() - began < 8
        assert result.timed_out and result.exit_code is None and b"started" in result.output
        assert (await sandbox.run(["echo", "again"], None, 10)).output == b"again\n"
    assert await leftovers(call) == 0


async def test_a_cancelled_command_is_killed(manager: SandboxManager, call: Caller) -> None:
    async with manager.use(call.spec) as sandbox:
        task = asyncio.create_task(sandbox.run(["sh", "-c", "sleep 30 & sleep 31; wait"], None, 60))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for _ in range(50):
        if await leftovers(call) == 0:
            break
        await asyncio.sleep(0.1)
    assert await leftovers(call) == 0


async def test_commands_run_concurrently_and_take_large_input(manager: SandboxManager, call: Caller) -> None:
    data = os.urandom(3 * 1024 * 1024)
    async with manager.use(call.spec) as sandbox:
        began = time.monotonic()
        slow = [sandbox.run(["sh", "-c", f"sleep 1.5; echo {n}"], None, 30) for n in range(3)]
        checksum = sandbox.run(["sh", "-c", "wc -c"], data, 30)
        results = await asyncio.gather(*slow, checksum)
        assert time.monotonic() - began < 4, "the commands ran one after the other"
    assert [r.output for r in results[:3]] == [b"0\n", b"1\n", b"2\n"]
    assert results[3].output.strip() == str(len(data)).encode() and results[3].exit_code == 0
    exit_status = await sandbox_status(manager, call, ["sh", "-c", "exit 7"])
    assert exit_status == 7


async def sandbox_status(manager: SandboxManager, call: Caller, argv: list[str]) -> int | None:
    async with manager.use(call.spec) as sandbox:
        return (await sandbox.run(argv, None, 10)).exit_code


@pytest.fixture
async def bwrap() -> AsyncIterator[tuple[SandboxManager, Caller]]:
    data_dir = new_data_dir()
    sandboxes = SandboxManager(data_dir, "bwrap", limits=TEST_LIMITS)
    call = Caller(sandboxes, new_session_id())
    yield sandboxes, call
    await sandboxes.destroy(call.spec.session_id)
    await sandboxes.close()
    remove_private_data_dir(data_dir)


def door_pid(sandbox: Sandbox) -> int:
    assert isinstance(sandbox, BwrapSandbox)
    door = sandbox._door  # pyright: ignore[reportPrivateUsage]
    assert door is not None and door.alive
    return door._proc.pid  # pyright: ignore[reportPrivateUsage]


async def test_the_door_is_invisible_inside_reopens_after_dying_and_dies_with_the_sandbox(
    bwrap: tuple[SandboxManager, Caller],
) -> None:
    manager, call = bwrap
    assert not (await call("write", file_path="/tmp/kept.txt", content="still here\n")).is_error
    sandbox = manager.get(call.spec.session_id)
    assert sandbox is not None
    first = door_pid(sandbox)
    # Inside: the init and the shell (running the listing as a builtin loop); no trace of the door.
    seen = await call.bash("for c in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $c; echo; done")
    assert "enter.py" not in seen.text_for_model and len(seen.text_for_model.splitlines()) == 2, seen.text_for_model
    os.kill(first, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{first}") or open(f"/proc/{first}/stat").read().split()[2] == "Z":
            break
        await asyncio.sleep(0.02)
    read = await call("read", file_path="/tmp/kept.txt")
    if read.is_error:
        # The call that met the dead door may fail; the next one gets a new door into the same sandbox.
        read = await call("read", file_path="/tmp/kept.txt")
    assert read.text_for_model == "     1\tstill here\n"
    second = door_pid(sandbox)
    assert second != first
    await manager.stop(call.spec.session_id)
    for _ in range(100):
        if not os.path.exists(f"/proc/{second}"):
            break
        await asyncio.sleep(0.02)
    assert not os.path.exists(f"/proc/{second}"), "the door outlived its sandbox"
