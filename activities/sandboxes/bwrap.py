"""The bubblewrap backend: every process of a session runs in one set of namespaces under the session's own host uid.

Isolation (DESIGN.md §5): ``--unshare-all`` (user, pid, ipc, uts, cgroup and network namespaces: the sandbox's network
has no interface but its own loopback, so neither the host's loopback nor anything else is reachable; its one way out is
the egress proxy's listener that the worker opens on that loopback, ``egress``), ``--disable-userns``, a read-only
``/usr`` and a few ``/etc`` files (never ``/etc/shadow``, ``/root``, ``/home``, the dma data dir or the source tree),
private ``/proc``, ``/dev`` and ``/tmp``, and the workspace read-write at ``/workspace``. When the worker runs as root,
``setpriv`` first switches to a host uid reserved for the session, so the sandbox's uid 1000 maps to an unprivileged uid
and RLIMIT_NPROC (process count) is charged to that session alone. ``prlimit`` sets the other limits.

Every process of the chain starts with a minimal environment of its own: bwrap stays PID 1 inside the sandbox, where
its environment is readable (``--clearenv`` only cleans the command it runs), so the worker's must never reach it.

The persistent shell is bwrap's command. One-shot helpers (the file tools) run through the sandbox's door (``door``,
``enter.py``), a process that has entered the shell's namespaces as the shell's user, so every tool sees the same
``/tmp``, ``/dev/shm`` and workspace.

A root worker binds the workspace in two steps, because bwrap resolves a bind's source path as the unprivileged
session uid, which cannot traverse a private home directory (0700) above the data dir: in a private mount namespace
of its own (``unshare``), still as root, the chain binds the workspace onto the empty ``MOUNT_POINT``, and bwrap binds
that onto ``/workspace``. Nothing changes on the host: the bind exists only in that namespace and dies with it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from activities.sandboxes import procs
from activities.sandboxes.base import MIB, ExecResult, IsolationUnavailable, Mount, SandboxError, SandboxLimits
from activities.sandboxes.door import Door
from activities.sandboxes.egress import SandboxNetwork
from activities.sandboxes.egress.listener import namespaces_of_user_sandbox
from activities.sandboxes.shell import PersistentShell
from activities.sandboxes.workspace import GROUP, MOUNT_POINT, MOUNTS_POINT, PASSWD

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
PIPE_DEFAULT_BYTES = 65536
# The whole environment of every process that sets a sandbox up (setpriv, nice, prlimit, unshare, bwrap).
SPAWN_ENV = {"PATH": PATH, "LANG": "C.UTF-8"}
# What commands inside see: the shell (through bwrap's --setenv) and the helpers (through enter.py).
SANDBOX_ENV = {
    "HOME": "/workspace",
    "PATH": PATH,
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "USER": "sandbox",
    "TMPDIR": "/tmp",
}
# Run by ``sh`` in the root worker's private mount namespace: ``mount`` ($1) binds the workspace ($2) onto the mount
# point ($3), then the rest of the chain is exec'd.
# The session's mounts directory ($4) goes onto the second mount point ($5) the same way.
BIND_SCRIPT = '"$1" --no-mtab --bind -- "$2" "$3" && "$1" --no-mtab --bind -- "$4" "$5" && shift 5 && exec "$@"'


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

    def __init__(
        self,
        session_id: str,
        workspace: Path,
        limits: SandboxLimits,
        host_uid: int | None,
        mounts: Sequence[Mount] = (),
        mounts_root: Path | None = None,
        network: SandboxNetwork | None = None,
        env: dict[str, str] | None = None,
    ):
        """Describe the sandbox; nothing starts until ``start``.

        Args:
            session_id: The session the sandbox belongs to.
            workspace: Host directory bound at ``/workspace`` (owned by ``host_uid``).
            limits: Resource limits.
            host_uid: Host uid to run as (the worker must be root), or None to run as the worker's own uid.
            mounts: What else the sandbox shows (read-only or read-write), each source below ``mounts_root``.
            mounts_root: The session's mounts directory (required with mounts when ``host_uid`` is set).
            network: The sandbox's egress (its variables, files and proxy listener); None: no network at all.
            env: Variables of commands inside beyond the usual ones, which they replace (installed packages' paths).
        """
        self._session_id = session_id
        self._workspace = workspace
        self._mounts = tuple(mounts)
        self._mounts_root = mounts_root
        self._limits = limits
        self._host_uid = host_uid
        self._network = network
        # The network's variables (credentials' placeholders among them) never replace the sandbox's own.
        self._env = {**(network.env if network else {}), **SANDBOX_ENV, **(env or {})}
        # Files bwrap writes into the sandbox from pipes ({data0}, {data1}, ... in the argv): the data dir may sit
        # where the session uid cannot go.
        self._data = [("/etc/passwd", PASSWD.encode()), ("/etc/group", GROUP.encode())]
        self._data += sorted(network.files.items()) if network else []
        self._limit_prefix = self._build_limit_prefix()
        self._shell_argv = self._build_shell_argv()
        self._shell: PersistentShell | None = None
        self._shell_proc: asyncio.subprocess.Process | None = None
        self._keep: set[int] = set()
        self._init_pidfd: int | None = None
        self._door: Door | None = None
        self._door_lock = asyncio.Lock()

    def _build_limit_prefix(self) -> list[str]:
        """``nice`` and ``prlimit`` for the shell's chain (``enter.py`` applies the same values itself)."""
        argv = [_require("nice"), "-n", NICENESS, _require("prlimit")]
        argv += [f"--{name.lower()}={value}" for name, value in _rlimits(self._limits).items()]
        return [*argv, "--"]

    def _build_shell_argv(self) -> list[str]:
        """The chain that starts bwrap with the persistent shell; ``{passwd}``/``{group}`` stand for pipe fds."""
        argv: list[str] = []
        source = str(self._workspace)
        mounts = [(str(mount.source), mount) for mount in self._mounts]
        if self._host_uid is not None:
            assert self._mounts_root is not None or not mounts, "a root worker's mounts need their mounts_root"
            root = str(self._mounts_root or self._workspace)
            argv += [_require("unshare"), "--mount", "--propagation", "private", "--"]
            argv += [_require("sh"), "-c", BIND_SCRIPT, "dma-sandbox-bind", _require("mount"), source, str(MOUNT_POINT)]
            argv += [root, str(MOUNTS_POINT)]
            source = str(MOUNT_POINT)
            mounts = [(str(MOUNTS_POINT / mount.source.relative_to(root)), mount) for mount in self._mounts]
            uid = str(self._host_uid)
            argv += [_require("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
        argv += self._limit_prefix
        argv += [_require("bwrap"), "--unshare-all", "--unshare-user", "--disable-userns"]
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--die-with-parent", "--new-session"]
        argv += ["--hostname", "sandbox", "--clearenv", "--ro-bind", "/usr", "/usr", *_root_links()]
        for name in ETC_FILES:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for index, (path, _) in enumerate(self._data):
            argv += ["--perms", "0644", "--ro-bind-data", f"{{data{index}}}", path]
        tmp = str(self._limits.tmp_bytes)
        argv += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            tmp,
            "--tmpfs",
            "/tmp",
            "--size",
            tmp,
            "--tmpfs",
            "/dev/shm",
        ]
        argv += ["--bind", source, "/workspace"]
        for host_path, mount in mounts:
            argv += ["--ro-bind" if mount.read_only else "--bind", host_path, mount.target]
        argv += ["--chdir", "/workspace"]
        # bwrap builds / and /dev on unbounded tmpfs: read-only, so only the sized tmpfs and the workspace take writes.
        argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
        for key, value in self._env.items():
            argv += ["--setenv", key, value]
        return [*argv, "--", "/bin/bash", "--noprofile", "--norc"]

    @property
    def running(self) -> bool:
        return self._shell is not None and self._shell.alive

    async def start(self) -> None:
        """Start the persistent shell (idempotent)."""
        if self.running:
            return
        await self._close_shell()
        pipes: list[int] = []
        try:
            for _, content in self._data:
                pipes.append(_data_pipe(content))
            fds = {f"{{data{index}}}": str(fd) for index, fd in enumerate(pipes)}
            proc = await asyncio.create_subprocess_exec(
                *[fds.get(arg, arg) for arg in self._shell_argv],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=SPAWN_ENV,
                cwd="/",
                pass_fds=pipes,
            )
        finally:
            for fd in pipes:
                os.close(fd)
        shell = PersistentShell(_ProcessChannel(proc), self._interrupt, self._limits.output_bytes, self._session_id)
        try:
            await shell.handshake()
        except SandboxError as err:
            raise IsolationUnavailable(f"bubblewrap could not start the sandbox: {err}") from err
        try:
            self._init_pidfd, self._keep = await asyncio.to_thread(_open_init, proc.pid)
            if self._network is not None:
                await self._network.attach(self._init_pidfd, namespaces_of_user_sandbox())
        except (OSError, SandboxError):
            await shell.close()
            if self._init_pidfd is not None:
                os.close(self._init_pidfd)
                self._init_pidfd = None
            raise
        self._shell_proc, self._shell = proc, shell

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
        """Run a one-shot command beside the shell, in the same sandbox (through its door); starts it if needed."""
        await self.start()
        door = await self._open_door()
        return await door.run(argv, stdin, timeout, self._limits.output_bytes + MIB)

    async def _open_door(self) -> Door:
        async with self._door_lock:
            if self._door is None or not self._door.alive:
                assert self._init_pidfd is not None
                rlimits = ",".join(f"{name}={value}" for name, value in _rlimits(self._limits).items())
                self._door = await Door.open(self._init_pidfd, NICENESS, rlimits, self._env)
            return self._door

    async def _close_shell(self) -> None:
        if self._network is not None:
            await self._network.detach()
        shell, self._shell, self._shell_proc = self._shell, None, None
        door, self._door = self._door, None
        if door is not None:
            await door.close()
        pidfd, self._init_pidfd = self._init_pidfd, None
        if pidfd is not None:
            os.close(pidfd)
        if shell is not None:
            await shell.close()

    async def stop(self) -> None:
        """End every process of the sandbox; the workspace stays for the next start."""
        await self._close_shell()

    async def destroy(self) -> None:
        """Stop, then remove the workspace."""
        await self.stop()
        await asyncio.to_thread(shutil.rmtree, self._workspace, True)


def _rlimits(limits: SandboxLimits) -> dict[str, int]:
    """The resource limits of every sandbox process, by ``RLIMIT_`` name."""
    return {
        "NPROC": limits.pids,
        "AS": limits.memory_bytes,
        "CPU": limits.cpu_seconds,
        "FSIZE": limits.file_size_bytes,
        "CORE": 0,
        "NOFILE": 4096,
    }


def _open_init(outer: int) -> tuple[int, set[int]]:
    """A pidfd of bwrap's init, and the host pids that a timeout must not kill.

    The init is the outer bwrap's only child; the shell is the init's only child at start.
    """
    inits = procs.children(outer)
    if len(inits) != 1:
        raise SandboxError(f"the sandbox of {outer} has {len(inits)} init processes")
    init = inits[0]
    pidfd = os.pidfd_open(init)
    # The pid was read before the pidfd was opened: still the outer bwrap's child now means it was the init all along.
    if procs.parent_of(init) != outer:
        os.close(pidfd)
        raise SandboxError("the sandbox's init exited while it started")
    return pidfd, {init, *procs.children(init)[:1]}


def _data_pipe(content: bytes) -> int:
    """The read end of a pipe that holds ``content`` and is closed for writing (grown to fit, up to 1 MiB)."""
    read, write = os.pipe()
    try:
        if len(content) > PIPE_DEFAULT_BYTES:
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, len(content))
        view = memoryview(content)
        os.set_blocking(write, False)
        while view:
            view = view[os.write(write, view) :]
    except OSError as err:
        os.close(read)
        raise SandboxError(f"a file for the sandbox is too large for its pipe ({len(content)} bytes)") from err
    finally:
        os.close(write)
    return read


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
