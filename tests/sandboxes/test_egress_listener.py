"""The proxy's listener is opened inside a sandbox's network namespace from outside it: by a thread of a root worker
(which comes back to the worker's own namespace), or by ``listen.py`` for a worker that must enter the sandbox's user
namespace too. Nothing inside can take the port over."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from activities.sandboxes import SandboxManager
from activities.sandboxes.egress.listener import (
    CLONE_NEWNET,
    CLONE_NEWUSER,
    _listen_from_helper,  # pyright: ignore[reportPrivateUsage]
    open_listener,
)
from tests.sandboxes.fixtures import Caller, new_session_id

PORT = 3128


@pytest.fixture
def namespaced() -> Iterator[tuple[int, int]]:
    """A process in user and network namespaces of its own (as bwrap makes them), and a pidfd of it."""
    script = "ip link set lo up && exec sleep 60"  # bwrap brings its loopback up too
    proc = subprocess.Popen(["unshare", "--user", "--map-root-user", "--net", "sh", "-c", script])
    try:
        for _ in range(100):
            with open(f"/proc/{proc.pid}/comm") as comm:
                if comm.read().strip() == "sleep":  # the loopback is up
                    break
            threading.Event().wait(0.02)
        pidfd = os.pidfd_open(proc.pid)
        yield proc.pid, pidfd
        os.close(pidfd)
    finally:
        proc.kill()
        proc.wait()


def _connect_inside(pid: int, port: int) -> str:
    script = f"import socket; s = socket.create_connection(('127.0.0.1', {port}), 3); print(s.recv(10).decode())"
    argv = ["nsenter", "-t", str(pid), "-U", "-n", "--preserve-credentials", "python3", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()


async def _serve_once(listener: socket.socket) -> asyncio.Server:
    async def hello(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(hello, sock=listener)


@pytest.mark.parametrize("way", ["thread", "helper"])
async def test_the_listener_lives_in_the_sandboxs_namespace(namespaced: tuple[int, int], way: str) -> None:
    pid, pidfd = namespaced
    own = os.readlink("/proc/thread-self/ns/net")
    if way == "thread":
        listener = await open_listener(pidfd, CLONE_NEWNET, PORT)
    else:
        listener = await _listen_from_helper(pidfd, CLONE_NEWNET | CLONE_NEWUSER, PORT)
    server = await _serve_once(listener)
    try:
        assert await asyncio.to_thread(_connect_inside, pid, PORT) == "hello"
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", PORT))  # not on the worker's loopback
    finally:
        server.close()
    assert os.readlink("/proc/thread-self/ns/net") == own
    threads = {os.readlink(f"/proc/self/task/{task}/ns/net") for task in os.listdir("/proc/self/task")}
    assert threads == {own}, "no thread of the worker stayed in the sandbox's namespace"


async def test_the_sandbox_cannot_take_the_proxy_port(manager: SandboxManager) -> None:
    call = Caller(manager, new_session_id(), networking="unrestricted")
    grab = (
        "import socket\n"
        "for reuse in (False, True):\n"
        "    s = socket.socket()\n"
        "    if reuse:\n"
        "        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
        "        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    try:\n"
        "        s.bind(('127.0.0.1', 3128)); s.listen(); print('TOOK IT')\n"
        "    except OSError as err:\n"
        "        print('refused', err.errno)\n"
    )
    assert not (await call("write", file_path="grab.py", content=grab)).is_error
    result = await call.bash("python3 grab.py; ps -eo comm | sort | uniq | tr '\\n' ' '")
    assert "TOOK IT" not in result.text_for_model and result.text_for_model.count("refused 98") == 2
    assert "python" not in result.text_for_model.split("\n")[-1], "no proxy or forwarder process inside"
    await manager.destroy(call.spec.session_id)
