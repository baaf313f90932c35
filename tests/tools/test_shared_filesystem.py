"""Every tool of a session sees one filesystem: what a file tool writes under /workspace, /tmp or /dev/shm the shell
reads, and the other way round, on both backends; the file tools' helpers run with the shell's own identity."""

from __future__ import annotations

import asyncio

from activities.sandboxes import SandboxManager
from tests.sandboxes.fixtures import Caller

PLACES = ("/tmp/x.txt", "/dev/shm/x.txt", "/workspace/x.txt", "relative.txt")
# Who a process is and what it may do: ids, capabilities, no_new_privs, seccomp, namespaces, root, limits, priority.
IDENTITY = (
    "grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; "
    "for n in cgroup ipc mnt net pid user uts; do readlink /proc/self/ns/$n; done; "
    "readlink /proc/self/root; cat /proc/self/limits; cut -d' ' -f19 /proc/self/stat"
)


async def test_what_write_creates_bash_reads_and_the_other_way_round(call: Caller) -> None:
    for place in PLACES:
        written = await call("write", file_path=place, content=f"written to {place}\n")
        assert not written.is_error, written.text_for_model
        assert (await call.bash(f"cat {place}")).text_for_model == f"written to {place}"
        assert not (await call.bash(f"echo from bash >> {place}")).is_error
        read = await call("read", file_path=place)
        assert read.text_for_model == f"     1\twritten to {place}\n     2\tfrom bash\n", (place, read.text_for_model)
        edited = await call("edit", file_path=place, old_string="from bash", new_string="edited")
        assert not edited.is_error, edited.text_for_model
        assert (await call.bash(f"tail -1 {place}")).text_for_model == "edited"
    await call.bash("mkdir -p /tmp/tree/sub && echo needle > /tmp/tree/sub/hay.txt")
    assert (await call("glob", pattern="**/*.txt", path="/tmp/tree")).text_for_model == "/tmp/tree/sub/hay.txt"
    assert (await call("grep", pattern="needle", path="/tmp/tree")).text_for_model == "/tmp/tree/sub/hay.txt:1:needle"


async def test_file_tools_see_the_shell_s_files_while_it_is_busy(call: Caller) -> None:
    busy = asyncio.create_task(call.bash("echo early > /tmp/busy.txt; sleep 4; echo finished"))
    for _ in range(100):
        read = await call("read", file_path="/tmp/busy.txt")
        if not read.is_error:
            break
        await asyncio.sleep(0.05)
    assert read.text_for_model == "     1\tearly\n"
    assert not busy.done(), "the file tool waited for the shell"
    assert (await busy).text_for_model == "finished"


async def test_file_tool_helpers_run_as_the_shell_does(manager: SandboxManager, call: Caller) -> None:
    shell = await call.bash(IDENTITY)
    async with manager.use(call.spec) as sandbox:
        helper = await sandbox.run(["sh", "-c", IDENTITY], None, 30)
    assert helper.exit_code == 0, helper.text()
    assert helper.text().strip() == shell.text_for_model, (helper.text(), shell.text_for_model)
    assert "NoNewPrivs:\t1" in shell.text_for_model and "CapBnd:\t0000000000000000" in shell.text_for_model
    assert "Uid:\t1000\t1000\t1000\t1000" in shell.text_for_model
