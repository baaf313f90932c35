"""The worker's end of a bwrap sandbox's door (``enter.py``): one-shot commands run inside the running sandbox.

A door is one long-lived process per sandbox, started on the first one-shot command; each command then costs a fork in
there instead of a new interpreter. Requests go down a ``SOCK_SEQPACKET`` socket pair with the command's stdin and
stdout pipes attached; the exit status comes back on the same socket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import sys
from contextlib import suppress
from pathlib import Path

from activities.sandboxes.base import ExecResult, SandboxError
from activities.sandboxes.output import CappedOutput

ENTER_SCRIPT = str(Path(__file__).with_name("enter.py"))
READY_TIMEOUT_SECONDS = 20.0
KILL_GRACE_SECONDS = 5.0
MAX_MESSAGE = 1 << 20


class Door:
    """Runs commands inside one sandbox through its door process."""

    def __init__(self, proc: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self._proc = proc
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self.alive = True
        self._loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def open(cls, pidfd: int, niceness: str, rlimits: str, env: dict[str, str]) -> Door:
        """Start the door of the sandbox whose init ``pidfd`` refers to; ``SandboxError`` if it cannot enter."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-S",
                ENTER_SCRIPT,
                str(pidfd),
                niceness,
                rlimits,
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=env,
                cwd="/",
                pass_fds=(pidfd, theirs.fileno()),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        door = cls(proc, ours)
        try:
            await asyncio.wait_for(asyncio.shield(door._ready), READY_TIMEOUT_SECONDS)
        except (SandboxError, TimeoutError) as err:
            await door.close()
            assert proc.stderr is not None
            detail = (await proc.stderr.read(4000)).decode(errors="replace").strip()
            raise SandboxError(f"cannot open the sandbox for the file tools: {detail or err}") from err
        return door

    def _on_readable(self) -> None:
        while True:
            try:
                message = self._sock.recv(MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self._lost()
                return
            reply = json.loads(message)
            if reply.get("ready"):
                if not self._ready.done():
                    self._ready.set_result(None)
                continue
            future = self._pending.pop(int(reply["id"]), None)
            if future is not None and not future.done():
                future.set_result(int(reply["status"]))

    def _lost(self) -> None:
        """The door went away: nothing more can run through it."""
        if not self.alive:
            return
        self.alive = False
        self._loop.remove_reader(self._sock.fileno())
        error = SandboxError("the sandbox's door closed")
        for future in [self._ready, *self._pending.values()]:
            if not future.done():
                future.set_exception(error)
                # Nobody may be waiting (a command already cut short); the exception is expected, not an error.
                future.exception()
        self._pending.clear()

    async def _send(self, request: dict[str, object], fds: list[int]) -> None:
        payload = json.dumps(request).encode()
        while True:
            try:
                socket.send_fds(self._sock, [payload], fds)
                return
            except BlockingIOError:
                writable = self._loop.create_future()
                self._loop.add_writer(self._sock.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    self._loop.remove_writer(self._sock.fileno())
            except OSError as err:
                self._lost()
                raise SandboxError(f"the sandbox's door closed: {err}") from err

    async def run(self, argv: list[str], stdin: bytes | None, timeout: float, output_bytes: int) -> ExecResult:
        """Run ``argv`` inside the sandbox; on timeout or cancellation its whole process group is killed."""
        if not self.alive:
            raise SandboxError("the sandbox's door closed")
        ident = next(self._ids)
        status: asyncio.Future[int] = self._loop.create_future()
        self._pending[ident] = status
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            await self._send({"id": ident, "argv": argv}, [in_read, out_write])
        except BaseException:
            self._pending.pop(ident, None)
            os.close(in_write)
            os.close(out_read)
            raise
        finally:
            os.close(in_read)
            os.close(out_write)
        sink = CappedOutput(output_bytes)
        try:
            await asyncio.wait_for(self._exchange(in_write, out_read, stdin, sink, status), timeout)
        except TimeoutError:
            await self._kill(ident, status)
            return ExecResult(sink.value(), None, sink.total, timed_out=True)
        except asyncio.CancelledError:
            await asyncio.shield(self._kill(ident, status))
            raise
        return ExecResult(sink.value(), status.result(), sink.total)

    async def _exchange(
        self, in_write: int, out_read: int, stdin: bytes | None, sink: CappedOutput, status: asyncio.Future[int]
    ) -> None:
        # A blocking write in a thread: the command reads its input at its own pace, and a command that dies early
        # ends the write with EPIPE (Python ignores SIGPIPE).
        feeding = asyncio.ensure_future(asyncio.to_thread(_write_all, in_write, stdin or b""))
        reader = asyncio.StreamReader()
        transport, _ = await self._loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(out_read, "rb", buffering=0)
        )
        try:
            while chunk := await reader.read(65536):
                sink.add(chunk)
        finally:
            transport.close()
        await feeding
        await asyncio.shield(status)

    async def _kill(self, ident: int, status: asyncio.Future[int]) -> None:
        """Kill command ``ident`` and wait until the door has reaped it; a door that does not answer is closed."""
        if status.done() or not self.alive:
            return
        try:
            await self._send({"kill": ident}, [])
            await asyncio.wait_for(asyncio.shield(status), KILL_GRACE_SECONDS)
        except (SandboxError, TimeoutError):
            await self.close()

    async def close(self) -> None:
        """Stop the door: it kills every command still running and exits."""
        self._lost()
        self._sock.close()
        try:
            await asyncio.wait_for(self._proc.wait(), KILL_GRACE_SECONDS)
        except TimeoutError:
            with suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        os.close(fd)
