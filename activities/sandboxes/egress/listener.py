"""The worker's side of ``listen.py``: a listening socket on a sandbox's own loopback, opened from outside it."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import sys
import threading
from pathlib import Path

from activities.sandboxes.base import IsolationUnavailable

LISTEN_SCRIPT = str(Path(__file__).with_name("listen.py"))
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SPAWN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
TIMEOUT_SECONDS = 20.0
BACKLOG = 128
_libc = ctypes.CDLL(None, use_errno=True)


def namespaces_of_user_sandbox() -> int:
    """The namespaces to enter to reach a bwrap sandbox's network: its user namespace too, unless the worker is root.

    A non-root worker holds capabilities over the sandbox's network namespace only from inside the user namespace
    that owns it; root holds them from outside.
    """
    return CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWNET | CLONE_NEWUSER


async def open_listener(pidfd: int, namespaces: int, port: int) -> socket.socket:
    """A listener on ``127.0.0.1:port`` in the network namespace of the process ``pidfd`` refers to.

    Raises:
        IsolationUnavailable: the namespace cannot be entered or the port is taken.
    """
    if namespaces == CLONE_NEWNET:
        return await _listen_from_thread(pidfd, port)
    return await _listen_from_helper(pidfd, namespaces, port)


async def _listen_from_thread(pidfd: int, port: int) -> socket.socket:
    """Root: a thread of the worker's own enters the namespace just long enough to make the socket.

    A thread of its own, started for this and ended after, so that no thread ever goes back to work in the
    sandbox's namespace, even should switching back fail (a pooled executor thread would).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        try:
            result: socket.socket | BaseException = _bind_in(pidfd, port)
        except OSError as err:
            result = IsolationUnavailable(f"the sandbox's network cannot be set up: {err}")
        loop.call_soon_threadsafe(_settle, done, result)

    threading.Thread(target=work, name="dma-egress-listen", daemon=True).start()
    listener = await done
    listener.setblocking(False)
    return listener


def _settle(future: asyncio.Future[socket.socket], result: socket.socket | BaseException) -> None:
    if future.cancelled():
        if isinstance(result, socket.socket):
            result.close()  # nobody waits for it any more (the sandbox's start was cancelled)
    elif isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"setns: {os.strerror(number)}")


def _bind_in(pidfd: int, port: int) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(pidfd)
        try:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                listener.bind(("127.0.0.1", port))
                listener.listen(BACKLOG)
            except OSError:
                listener.close()
                raise
        finally:
            _setns(own)
    finally:
        os.close(own)
    return listener


async def _listen_from_helper(pidfd: int, namespaces: int, port: int) -> socket.socket:
    """Not root: ``listen.py`` enters the sandbox's user namespace too, which only a single-threaded process may."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", LISTEN_SCRIPT, str(pidfd), str(namespaces), str(port), str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=SPAWN_ENV, cwd="/", pass_fds=(pidfd, theirs.fileno()),
            )  # fmt: skip
        finally:
            theirs.close()
        async with asyncio.timeout(TIMEOUT_SECONDS):
            _, stderr = await proc.communicate()
        if proc.returncode != 0:
            detail = stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise IsolationUnavailable(f"the sandbox's network cannot be set up: {detail}")
        ours.setblocking(False)
        _, fds, _, _ = socket.recv_fds(ours, 64, 1)
    if len(fds) != 1:
        raise IsolationUnavailable("the sandbox's network cannot be set up: no listener came back")
    listener = socket.socket(fileno=fds[0])
    listener.setblocking(False)
    return listener
