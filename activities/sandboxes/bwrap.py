"""The bubblewrap backend: every process of a session runs in fresh namespaces under the session's own host uid.

Isolation (DESIGN.md §5): ``--unshare-all`` (user, pid, ipc, uts, cgroup and network namespaces: no network at all,
so neither the host's loopback nor anything else is reachable), ``--disable-userns``, a read-only ``/usr`` and a few
``/etc`` files (never ``/etc/shadow``, ``/root``, ``/home``, the dma data dir or the source tree), private ``/proc``,
``/dev`` and ``/tmp``, and the workspace read-write at ``/workspace``. When the worker runs as root, ``setpriv`` first
switches to a host uid reserved for the session, so the sandbox's uid 1000 maps to an unprivileged uid and
RLIMIT_NPROC (process count) is charged to that session alone. ``prlimit`` sets the other limits.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from contextlib import suppress
from pathlib import Path

from activities.sandboxes import procs
from activities.sandboxes.base import MIB, ExecResult, IsolationUnavailable, SandboxError, SandboxLimits
from activities.sandboxes.output import CappedOutput
from activities.sandboxes.shell import PersistentShell

SANDBOX_UID = 1000
ETC_FILES = (
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "os-release",
    "debian_version",
    "python3",
    "python3.11",
    "gitconfig",
    "mime.types",
)
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
NICENESS = "10"


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise IsolationUnavailable(f"the bwrap sandbox backend needs '{binary}', which is not installed")
    return path


def _root_links() -> list[str]:
    """``/bin``, ``/lib`` … as on the host: symlinks into ``/usr`` on merged-/usr systems, read-only binds elsewhere."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


class BwrapSandbox:
    """A session's sandbox made of bubblewrap processes: the persistent shell plus one-shot helpers beside it."""

    def __init__(self, session_id: str, workspace: Path, etc_dir: Path, limits: SandboxLimits, host_uid: int | None):
        """Describe the sandbox; nothing starts until ``start``.

        Args:
            session_id: The session the sandbox belongs to.
            workspace: Host directory bound at ``/workspace`` (owned by ``host_uid``).
            etc_dir: Host directory holding the generated ``passwd`` and ``group``.
            limits: Resource limits.
            host_uid: Host uid to run as (the worker must be root), or None to run as the worker's own uid.
        """
        self._session_id = session_id
        self._workspace = workspace
        self._etc_dir = etc_dir
        self._limits = limits
        self._host_uid = host_uid
        self._prefix = self._build_prefix()
        self._shell: PersistentShell | None = None
        self._shell_proc: asyncio.subprocess.Process | None = None
        self._keep: set[int] = set()

    def _build_prefix(self) -> list[str]:
        limits = self._limits
        argv: list[str] = []
        if self._host_uid is not None:
            uid = str(self._host_uid)
            argv += [_require("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
        argv += [_require("nice"), "-n", NICENESS]
        argv += [
            _require("prlimit"),
            f"--nproc={limits.pids}",
            f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.file_size_bytes}",
            "--core=0",
            "--nofile=4096",
            "--",
        ]
        argv += [_require("bwrap"), "--unshare-all", "--unshare-user", "--disable-userns"]
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--die-with-parent", "--new-session"]
        argv += ["--hostname", "sandbox", "--clearenv", "--ro-bind", "/usr", "/usr", *_root_links()]
        for name in ETC_FILES:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        argv += ["--ro-bind", str(self._etc_dir / "passwd"), "/etc/passwd"]
        argv += ["--ro-bind", str(self._etc_dir / "group"), "/etc/group"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
        argv += ["--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
        argv += ["--bind", str(self._workspace), "/workspace", "--chdir", "/workspace"]
        # bwrap builds / and /dev on unbounded tmpfs: read-only, so only the sized tmpfs and the workspace take writes.
        argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
        for key, value in (("HOME", "/workspace"), ("PATH", PATH), ("LANG", "C.UTF-8"), ("TERM", "dumb")):
            argv += ["--setenv", key, value]
        argv += ["--setenv", "USER", "sandbox", "--setenv", "TMPDIR", "/tmp", "--"]
        return argv

    @property
    def running(self) -> bool:
        return self._shell is not None and self._shell.alive

    async def start(self) -> None:
        """Start the persistent shell (idempotent)."""
        if self.running:
            return
        proc = await asyncio.create_subprocess_exec(
            *self._prefix,
            "/bin/bash",
            "--noprofile",
            "--norc",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        shell = PersistentShell(_ProcessChannel(proc), self._interrupt, self._limits.output_bytes, self._session_id)
        try:
            await shell.handshake()
        except SandboxError as err:
            raise IsolationUnavailable(f"bubblewrap could not start the sandbox: {err}") from err
        self._shell_proc, self._shell = proc, shell
        self._keep = await asyncio.to_thread(_core_pids, proc.pid)

    async def _interrupt(self) -> None:
        """Kill everything in the sandbox but bwrap's init and the shell, the command's orphans included."""
        proc = self._shell_proc
        if proc is None or proc.returncode is not None:
            return
        await asyncio.to_thread(procs.kill_descendants_except, proc.pid, self._keep)

    async def exec_shell(self, command: str, timeout: float) -> ExecResult:
        """Run ``command`` in the persistent shell, starting one first if there is none."""
        await self.start()
        assert self._shell is not None
        return await self._shell.run(command, timeout)

    async def restart_shell(self) -> None:
        """Replace the shell with a fresh one (cwd and environment reset; the workspace stays)."""
        await self._close_shell()
        await self.start()

    async def run(self, argv: list[str], stdin: bytes | None, timeout: float) -> ExecResult:
        """Run a one-shot command in a fresh sandbox over the same workspace."""
        proc = await asyncio.create_subprocess_exec(
            *self._prefix,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        sink = CappedOutput(self._limits.output_bytes + MIB)
        try:
            await asyncio.wait_for(_communicate(proc, stdin, sink), timeout)
        except TimeoutError:
            _kill_group(proc)
            await proc.wait()
            return ExecResult(sink.value(), None, sink.total, timed_out=True)
        except asyncio.CancelledError:
            _kill_group(proc)
            raise
        return ExecResult(sink.value(), proc.returncode, sink.total)

    async def _close_shell(self) -> None:
        shell, self._shell, self._shell_proc = self._shell, None, None
        if shell is not None:
            await shell.close()

    async def stop(self) -> None:
        """End every process of the sandbox; the workspace stays for the next start."""
        await self._close_shell()

    async def destroy(self) -> None:
        """Stop, then remove the workspace."""
        await self.stop()
        await asyncio.to_thread(shutil.rmtree, self._workspace, True)


def _core_pids(outer: int) -> set[int]:
    """Host pids of bwrap's init (child of the outer bwrap) and of the shell (the init's only child at start)."""
    keep: set[int] = set()
    for init in procs.children(outer):
        keep.add(init)
        keep.update(procs.children(init)[:1])
    return keep


async def _communicate(proc: asyncio.subprocess.Process, stdin: bytes | None, sink: CappedOutput) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    if stdin:
        proc.stdin.write(stdin)
    # A helper that dies early closes its end; the output tells what happened.
    with suppress(BrokenPipeError, ConnectionResetError):
        await proc.stdin.drain()
    proc.stdin.close()
    while chunk := await proc.stdout.read(65536):
        sink.add(chunk)
    await proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # Killing the outer bwrap is enough: its init dies with it (--die-with-parent) and takes the pid namespace along.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)


class _ProcessChannel:
    """The shell channel over a local process's pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout

    async def read(self) -> bytes:
        return await self._stdout.read(65536)

    async def write(self, data: bytes) -> None:
        self._stdin.write(data)
        try:
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            # The shell is gone; the next read sees EOF and reports it.
            return

    async def close(self) -> None:
        if self._proc.returncode is None:
            _kill_group(self._proc)
        await self._proc.wait()
