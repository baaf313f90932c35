"""Every sandbox tool on both backends: bash (persistent shell, restart, timeout) and the file tools."""

from __future__ import annotations

import time

import pytest

from activities.sandboxes import SandboxManager
from activities.tools.sandbox_tools import run_file_tool
from tests.sandboxes.fixtures import Caller, spec


async def test_bash_state_persists_between_calls(call: Caller) -> None:
    first = await call.bash("mkdir -p sub/dir && cd sub/dir && export GREETING=hello && echo ok")
    assert not first.is_error and first.text_for_model == "ok"
    second = await call.bash('pwd; echo "$GREETING"; id -u')
    assert second.text_for_model.splitlines() == ["/workspace/sub/dir", "hello", "1000"]


async def test_bash_reports_exit_code_and_stderr(call: Caller) -> None:
    result = await call.bash("echo out; echo err >&2; exit_status() { return 3; }; exit_status")
    assert result.is_error
    assert "out" in result.text_for_model and "err" in result.text_for_model
    assert "[exit code: 3]" in result.text_for_model


async def test_bash_restart_resets_cwd_and_env(call: Caller) -> None:
    await call.bash("cd /tmp && export KEEP=1 && echo data > /workspace/kept.txt")
    restarted = await call("bash", restart=True)
    assert not restarted.is_error and "restarted" in restarted.text_for_model
    after = await call.bash('pwd; echo "[$KEEP]"; cat kept.txt')
    assert after.text_for_model.splitlines() == ["/workspace", "[]", "data"]


async def test_bash_timeout_kills_the_command_but_keeps_the_shell(call: Caller) -> None:
    await call.bash("export STATE=kept; cd /tmp")
    began = time.monotonic()
    result = await call.bash("echo started; sleep 30; sleep 30 | cat; echo after", timeout_ms=1000)
    assert time.monotonic() - began < 6
    assert result.is_error
    assert "started" in result.text_for_model and "timed out after 1 s" in result.text_for_model
    after = await call.bash('echo "$STATE $(pwd)"; ls /proc | grep -c "^[0-9]"')
    state, processes = after.text_for_model.splitlines()
    assert state == "kept /tmp"
    assert int(processes) <= 5  # init (+ docker's main sleep), the shell, ls, grep: no sleep left behind


async def test_bash_builtin_loop_timeout_replaces_the_shell(call: Caller) -> None:
    result = await call.bash("while :; do :; done", timeout_ms=1000)
    assert result.is_error and "timed out" in result.text_for_model and "shell was restarted" in result.text_for_model
    assert (await call.bash("echo fine")).text_for_model == "fine"


async def test_bash_exit_ends_shell_and_next_call_gets_a_new_one(call: Caller) -> None:
    gone = await call.bash("exit 4")
    assert gone.is_error and "shell was restarted" in gone.text_for_model
    assert (await call.bash("echo back")).text_for_model == "back"


async def test_bash_input_errors(call: Caller) -> None:
    assert (await call("bash")).is_error
    assert "timeout_ms" in (await call("bash", command="true", timeout_ms=-5)).text_for_model


async def test_write_then_read_with_line_numbers(call: Caller) -> None:
    written = await call("write", file_path="notes/a.txt", content="one\ntwo\nthree\n")
    assert not written.is_error, written.text_for_model
    full = await call("read", file_path="notes/a.txt")
    assert full.text_for_model == "     1\tone\n     2\ttwo\n     3\tthree\n"
    ranged = await call("read", file_path="/workspace/notes/a.txt", view_range=[2, -1])
    assert ranged.text_for_model == "     2\ttwo\n     3\tthree\n"
    assert (await call("bash", command="cat notes/a.txt")).text_for_model == "one\ntwo\nthree"


async def test_read_errors(call: Caller) -> None:
    missing = await call("read", file_path="nope.txt")
    assert missing.is_error and "does not exist" in missing.text_for_model
    await call("write", file_path="short.txt", content="x\n")
    beyond = await call("read", file_path="short.txt", view_range=[5, 6])
    assert beyond.is_error and "has 1 lines" in beyond.text_for_model
    await call.bash("printf 'a\\0b' > bin.dat")
    assert "binary" in (await call("read", file_path="bin.dat")).text_for_model
    assert (await call("read", file_path=".")).is_error


async def test_edit_unique_multiple_and_replace_all(call: Caller) -> None:
    await call("write", file_path="e.py", content="x = 1\ny = 1\nz = 2\n")
    none = await call("edit", file_path="e.py", old_string="w = 0", new_string="w = 1")
    assert none.is_error and "not found" in none.text_for_model
    many = await call("edit", file_path="e.py", old_string="= 1", new_string="= 5")
    assert many.is_error and "occurs 2 times" in many.text_for_model
    one = await call("edit", file_path="e.py", old_string="z = 2", new_string="z = 3")
    assert not one.is_error
    every = await call("edit", file_path="e.py", old_string="= 1", new_string="= 5", replace_all=True)
    assert not every.is_error and "Replaced 2" in every.text_for_model
    assert (await call.bash("cat e.py")).text_for_model == "x = 5\ny = 5\nz = 3"


async def test_glob_lists_matching_files(call: Caller) -> None:
    await call.bash("mkdir -p src/pkg && touch src/a.py src/pkg/b.py src/c.txt")
    found = await call("glob", pattern="**/*.py", path="src")
    assert sorted(found.text_for_model.splitlines()) == ["/workspace/src/a.py", "/workspace/src/pkg/b.py"]
    assert (await call("glob", pattern="*.rs")).text_for_model == "No files found"


@pytest.mark.parametrize("engine", ["auto", "python"])
async def test_grep_finds_lines(manager: SandboxManager, call: Caller, engine: str) -> None:
    await call("write", file_path="g/one.txt", content="alpha\nbeta\ngamma beta\n")
    await call("write", file_path="g/two.txt", content="nothing here\n")
    async with manager.use(call.spec) as sandbox:
        found = await run_file_tool(sandbox, manager.limits, "grep", {"pattern": "be+ta", "path": "g"}, engine)
        missing = await run_file_tool(sandbox, manager.limits, "grep", {"pattern": "zzz", "path": "g"}, engine)
    expected = ["/workspace/g/one.txt:2:beta", "/workspace/g/one.txt:3:gamma beta"]
    assert sorted(found.text_for_model.splitlines()) == expected
    assert missing.text_for_model == "No matches found"


async def test_workspace_survives_stop_and_destroy_removes_it(manager: SandboxManager, call: Caller) -> None:
    await call("write", file_path="keep.txt", content="still here")
    await call.bash("export GONE=1")
    await manager.stop(call.spec.session_id)
    assert manager.get(call.spec.session_id) is None
    again = await call.bash('cat keep.txt; echo "[$GONE]"')
    assert again.text_for_model == "still here[]"
    workspace = manager.workspace(call.spec.session_id)
    assert (workspace / "keep.txt").exists()
    await manager.destroy(call.spec.session_id)
    assert not workspace.exists()


async def test_idle_reaper_stops_unused_sandboxes_and_keeps_files(manager: SandboxManager, call: Caller) -> None:
    await call("write", file_path="idle.txt", content="z")
    manager.idle_timeout = 0
    try:
        stopped = await manager.reap_idle()
    finally:
        manager.idle_timeout = 900
    assert call.spec.session_id in stopped and manager.get(call.spec.session_id) is None
    assert (await call("read", file_path="idle.txt")).text_for_model == "     1\tz\n"


async def test_large_output_is_truncated_for_the_model(call: Caller) -> None:
    result = await call.bash("seq 1 100000")
    assert len(result.text_for_model) < 31_000 and "characters omitted" in result.text_for_model
    assert result.full_text == "\n".join(str(n) for n in range(1, 100001))
    assert result.text_for_model.startswith("1\n2\n") and result.text_for_model.endswith("\n100000")


async def test_packages_the_policy_cannot_reach_fail_clearly_on_bwrap(manager: SandboxManager) -> None:
    if manager.backend != "bwrap":
        # docker installs packages by building a derived image; see test_docker_packages.
        return
    # Limited networking without allow_package_managers reaches no registry (the install is refused before any
    # lookup); tests/sandboxes/test_bwrap_packages.py installs for real from the test internet.
    caller = Caller(manager, "sesn_pkgs")
    caller.spec = spec("sesn_pkgs", packages={"pip": ["requests"]})
    outcome = await caller.bash("true")
    assert outcome.is_error and "installing the environment's pip packages failed" in outcome.text_for_model
    assert "(limited: pypi.org is not in allowed_hosts)" in outcome.text_for_model
