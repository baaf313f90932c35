"""The sandbox protocol every backend implements, its limits, results and errors (DESIGN.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MIB = 1024 * 1024


class SandboxError(Exception):
    """A sandbox could not do what was asked; the message is meant for the model or the session log."""


class IsolationUnavailable(SandboxError):
    """The isolation a backend needs is missing (no bwrap, no user namespaces, no docker daemon or image).

    Never answered by running the command unsandboxed.
    """


@dataclass(frozen=True)
class SandboxLimits:
    """Per-sandbox resource limits.

    Attributes:
        cpus: CPU share (docker ``nano_cpus``; bwrap cannot cap a share without cgroups and runs at low priority).
        cpu_seconds: CPU time per process (RLIMIT_CPU).
        memory_bytes: Memory of the sandbox (docker cgroup) or address space per process (bwrap RLIMIT_AS).
        pids: Processes of the sandbox (docker ``pids_limit``; bwrap RLIMIT_NPROC of the sandbox's own host uid).
        file_size_bytes: Largest file a process may write (RLIMIT_FSIZE).
        tmp_bytes: Size of the private ``/tmp`` tmpfs.
        output_bytes: Command output kept per call; the rest is counted and dropped.
        default_timeout: Wall time of a command when the caller gives none, in seconds.
        max_timeout: Upper bound on any caller-given wall time, in seconds.
    """

    cpus: float = 1.0
    cpu_seconds: int = 3600
    memory_bytes: int = 2048 * MIB
    pids: int = 256
    file_size_bytes: int = 1024 * MIB
    tmp_bytes: int = 256 * MIB
    output_bytes: int = 1 * MIB
    default_timeout: float = 120.0
    max_timeout: float = 600.0

    def clamp_timeout(self, seconds: float | None) -> float:
        """The wall time to use for a command: the default when unset, never above ``max_timeout``."""
        if seconds is None or seconds <= 0:
            return self.default_timeout
        return min(seconds, self.max_timeout)


@dataclass(frozen=True)
class Mount:
    """A host path shown at ``target`` inside the sandbox (session files, outputs, memory stores, skills, repos).

    Both backends take the same list. Every ``source`` sits below the session's mounts directory on the host
    (``workspace.mounts_dir``), which a root worker binds into its private mount namespace as it does the workspace.
    """

    source: Path
    target: str
    read_only: bool


@dataclass(frozen=True)
class ExecResult:
    """What a command produced.

    Attributes:
        output: Combined stdout and stderr, at most ``SandboxLimits.output_bytes``.
        exit_code: The command's exit status; None when it never finished (timeout without a status, dead shell).
        total_bytes: How many output bytes the command wrote in all (more than ``len(output)`` when truncated).
        timed_out: The wall-time limit was hit and the command was killed.
        shell_lost: The persistent shell died or had to be restarted, so its cwd and environment are gone.
    """

    output: bytes
    exit_code: int | None
    total_bytes: int = 0
    timed_out: bool = False
    shell_lost: bool = False

    @property
    def truncated(self) -> bool:
        return self.total_bytes > len(self.output)

    def text(self) -> str:
        """The output as text (invalid UTF-8 replaced)."""
        return self.output.decode("utf-8", errors="replace")


class Sandbox(Protocol):
    """One session's isolated workspace with a persistent shell.

    ``start`` is idempotent; ``stop`` ends every process but keeps the workspace; ``destroy`` also removes the
    workspace. ``exec_shell`` runs one command at a time in the persistent shell (cwd and environment survive between
    calls); ``run`` starts a one-shot process beside it (the file tools use it).
    """

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def exec_shell(self, command: str, timeout: float) -> ExecResult: ...

    async def restart_shell(self) -> None: ...

    async def run(self, argv: list[str], stdin: bytes | None, timeout: float) -> ExecResult: ...

    async def stop(self) -> None: ...

    async def destroy(self) -> None: ...
