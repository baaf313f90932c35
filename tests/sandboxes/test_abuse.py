"""Hostile commands on both backends: each is contained with a clear result, the worker stays healthy, and the sandbox
stays usable afterwards."""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from activities.sandboxes import SandboxManager
from tests.sandboxes.fixtures import Caller, new_session_id

REPO_FILE = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@asynccontextmanager
async def loop_watch() -> AsyncIterator[list[float]]:
    """Records the worst event-loop stall while the block runs (the worker must stay responsive)."""
    stalls: list[float] = [0.0]

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            stalls[0] = max(stalls[0], time.monotonic() - before - 0.01)

    task = asyncio.create_task(tick())
    try:
        yield stalls
    finally:
        task.cancel()


@contextmanager
def listener(host: str) -> Iterator[tuple[int, list[str]]]:
    """A TCP listener standing in for the API / Temporal / PostgreSQL; records every connection it accepts."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer[0])
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        server.close()


async def assert_usable(call: Caller) -> None:
    assert (await call.bash("echo still-alive")).text_for_model == "still-alive"
    assert not (await call("write", file_path="after.txt", content="ok")).is_error


async def test_host_secrets_and_paths_are_invisible(manager: SandboxManager, call: Caller) -> None:
    shadow = await call("read", file_path="/etc/shadow")
    assert shadow.is_error
    seen = await call.bash(
        f"cat /etc/shadow; ls /root; ls {REPO_FILE.parent}; cat {REPO_FILE}; ls {manager.workspace('x').parents[1]}"
    )
    assert seen.is_error
    assert "root:" not in seen.text_for_model and "[project]" not in seen.text_for_model
    assert "dma" not in (await call.bash("ls / /home 2>/dev/null; true")).text_for_model
    # A symlink to a host path resolves inside the sandbox, where that path does not exist.
    await call.bash(f"ln -sf {REPO_FILE} link.toml")
    assert (await call("read", file_path="link.toml")).is_error
    await assert_usable(call)


async def test_cannot_write_outside_the_workspace(call: Caller) -> None:
    for path in ("/usr/bin/evil", "/etc/evil", "/evil", "../evil"):
        outcome = await call("write", file_path=path, content="x")
        assert outcome.is_error, path
    shell = await call.bash("touch /usr/evil || echo denied; touch /etc/evil || echo denied")
    assert shell.text_for_model.count("denied") == 2
    assert not (await call.bash("id -u")).text_for_model == "0"
    await assert_usable(call)


async def test_other_sessions_workspace_is_unreachable(manager: SandboxManager, call: Caller) -> None:
    victim = Caller(manager, new_session_id())
    await victim("write", file_path="secret.txt", content="victim-secret")
    victim_workspace = manager.workspace(victim.spec.session_id)
    for path in (f"{victim_workspace}/secret.txt", f"../{victim.spec.session_id}/workspace/secret.txt"):
        outcome = await call("read", file_path=path)
        assert outcome.is_error and "victim-secret" not in outcome.text_for_model
    direct = await call.bash(f"cat {victim_workspace}/secret.txt")
    assert direct.is_error and "victim-secret" not in direct.text_for_model
    search = await call.bash("find / -path /proc -prune -o -name secret.txt -print 2>/dev/null; true", timeout_ms=60000)
    assert "secret.txt" not in search.text_for_model
    await manager.destroy(victim.spec.session_id)


async def test_host_loopback_is_unreachable_even_with_unrestricted_networking(manager: SandboxManager) -> None:
    call = Caller(manager, new_session_id(), networking="unrestricted")
    probe = (
        "import socket, sys\n"
        "print('routes', open('/proc/net/route').read().splitlines()[1:])\n"
        "for port in sys.argv[1:]:\n"
        "    s = socket.socket(); s.settimeout(3)\n"
        "    try:\n"
        "        s.connect(('127.0.0.1', int(port))); print('CONNECTED', port)\n"
        "    except OSError as err:\n"
        "        print('refused', port, err)\n"
    )
    with listener("127.0.0.1") as (loopback_port, loopback_seen), listener("0.0.0.0") as (any_port, any_seen):
        await call("write", file_path="probe.py", content=probe)
        result = await call.bash(f"python3 probe.py {loopback_port} {any_port}")
    # The sandbox's 127.0.0.1 is its own loopback, the only interface it has: no route leads anywhere else.
    assert "CONNECTED" not in result.text_for_model, result.text_for_model
    assert "routes []" in result.text_for_model, result.text_for_model
    refused = [line for line in result.text_for_model.splitlines() if line.startswith("refused ")]
    assert len(refused) == 2 and all("Connection refused" in line for line in refused), result.text_for_model
    assert loopback_seen == [] and any_seen == []
    await assert_usable(call)
    await manager.destroy(call.spec.session_id)


async def test_fork_bomb_is_contained(manager: SandboxManager, call: Caller) -> None:
    async with loop_watch() as stalls:
        bomb = await call.bash("bomb() { bomb | bomb & }; bomb; sleep 20", timeout_ms=4000)
    assert bomb.is_error and "timed out" in bomb.text_for_model
    assert stalls[0] < 1.0
    await assert_usable(call)
    count = await call.bash("ls /proc | grep -c '^[0-9]'")
    assert int(count.text_for_model) <= 6
    assert manager.limits.pids <= 128


async def test_huge_allocation_fails_without_hurting_the_worker(call: Caller) -> None:
    before = _max_rss_mib()
    result = await call.bash("python3 -c \"x = b'x' * (8 << 30); print('ALLOC' + 'ATED')\"", timeout_ms=30000)
    assert result.is_error and "ALLOCATED" not in result.text_for_model
    assert "MemoryError" in result.text_for_model or "[exit code: 137]" in result.text_for_model
    assert _max_rss_mib() - before < 200
    await assert_usable(call)


async def test_endless_loops_time_out(call: Caller) -> None:
    busy = await call.bash("python3 -c 'while True: pass'", timeout_ms=1500)
    assert busy.is_error and "timed out after 1.5 s" in busy.text_for_model
    builtin = await call.bash("while :; do :; done", timeout_ms=1000)
    assert builtin.is_error and "timed out" in builtin.text_for_model
    await assert_usable(call)


async def test_200_mb_of_output_is_streamed_and_capped(call: Caller) -> None:
    before = _max_rss_mib()
    async with loop_watch() as stalls:
        result = await call.bash("head -c 200000000 /dev/zero | tr '\\0' a; echo; echo tail-marker", timeout_ms=60000)
    assert "output truncated: the command wrote 20000001" in result.text_for_model
    assert len(result.text_for_model) < 31_000 and len(result.full_text) <= 1024 * 1024 + 200
    assert _max_rss_mib() - before < 100
    assert stalls[0] < 1.0
    await assert_usable(call)
