"""The Docker backend: one lean container per session, a long-lived shell exec'd into it, one-shot execs beside it.

Isolation (DESIGN.md §5): uid 1000, every capability dropped, ``no-new-privileges``, read-only root with a private
tmpfs ``/tmp``, memory / CPU / pids limits in the container's cgroup, RLIMIT_FSIZE / RLIMIT_CPU, and no network but
the container's own loopback (``network_mode=none``), where the worker opens the egress proxy's listener from outside
(``egress``): that listener is the container's only way out, as for bwrap. The container's main process is ``sleep``
under Docker's init, so stopping the shell never stops the container and orphans are reaped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit
from docker.types import Mount as DockerMount

from activities.sandboxes.base import MIB, ExecResult, IsolationUnavailable, Mount, SandboxError, SandboxLimits
from activities.sandboxes.docker_exec import SANDBOX_USER, ExecStream
from activities.sandboxes.egress import SandboxNetwork
from activities.sandboxes.egress.client_config import CONFIG_DIR
from activities.sandboxes.egress.listener import CLONE_NEWNET
from activities.sandboxes.output import CappedOutput
from activities.sandboxes.shell import PersistentShell

# Run inside the container on a timeout: kill everything but init, the main ``sleep`` (init's oldest child), the shell
# (argv[1]) and this script.
_KILL_SCRIPT = r"""
import os, signal, sys
def stat(pid):
    try:
        raw = open("/proc/%d/stat" % pid, "rb").read()
    except OSError:
        return None
    f = raw[raw.rfind(b")") + 2:].split()
    return None if f[0] in (b"Z", b"X") else (int(f[1]), int(f[19]))
for _ in range(50):
    info = {p: stat(p) for p in map(int, filter(str.isdigit, os.listdir("/proc")))}
    info = {p: s for p, s in info.items() if s}
    main = min((s[1], p) for p, s in info.items() if s[0] == 1)[1] if any(s[0] == 1 for s in info.values()) else 0
    victims = [p for p in info if p not in (1, main, os.getpid(), int(sys.argv[1]))]
    if not victims:
        break
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in victims:
            try:
                os.kill(p, sig)
            except OSError:
                pass
"""
# Run inside the container when a one-shot command is cancelled: kill every process carrying its tag (argv[1]) in
# its environment, which its children inherit. Docker has no way to kill an exec.
_KILL_TAGGED_SCRIPT = r"""
import os, signal, sys
mark = ("DMA_ONE_SHOT=" + sys.argv[1]).encode()
def tagged(pid):
    try:
        return mark in open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
    except OSError:
        return False
for _ in range(50):
    victims = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if p != os.getpid() and tagged(p)]
    if not victims:
        break
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in victims:
            try:
                os.kill(p, sig)
            except OSError:
                pass
"""
KILL_TIMEOUT_SECONDS = 5.0


class DockerSandbox:
    """A session's container with its persistent shell."""

    def __init__(
        self,
        client: docker.DockerClient,
        session_id: str,
        workspace: Path,
        limits: SandboxLimits,
        image: str,
        network: SandboxNetwork | None = None,
        network_dir: Path | None = None,
        mounts: Sequence[Mount] = (),
    ) -> None:
        """Describe the sandbox; nothing starts until ``start``.

        Args:
            client: Docker SDK client (blocking; only used through threads).
            session_id: The session the sandbox belongs to.
            workspace: Host directory bind-mounted at ``/workspace`` (owned by uid 1000).
            limits: Resource limits.
            image: Image to run (``dma-sandbox:latest`` or a derived image with the environment's packages).
            network: The container's egress (its variables, files and proxy listener); None: no network at all.
            network_dir: Host directory for the egress files, bound read-only at ``/etc/dma-egress``.
            mounts: What else the container shows (bind mounts, read-only or read-write).
        """
        self._client = client
        self._api: Any = client.api
        self._session_id = session_id
        self._name = f"dma-sbx-{session_id}"
        self._workspace = workspace
        self._limits = limits
        self._image = image
        self._network = network
        self._mounts = tuple(mounts)
        self._network_dir = network_dir
        self._container_id: str | None = None
        self._shell: PersistentShell | None = None

    @property
    def running(self) -> bool:
        return self._shell is not None and self._shell.alive

    def _create(self) -> str:
        limits = self._limits
        with suppress(NotFound):
            # A container left by an earlier worker may carry an outdated config: start from a clean one.
            self._client.containers.get(self._name).remove(force=True)
        # The typeshed stubs' overloads of ``run`` do not cover this combination of keyword arguments.
        containers: Any = self._client.containers
        container = containers.run(
            self._image,
            ["sleep", "infinity"],
            name=self._name,
            detach=True,
            init=True,
            user=SANDBOX_USER,
            working_dir="/workspace",
            hostname="sandbox",
            environment={
                **self._environment(),
                "HOME": "/workspace",
                "LANG": "C.UTF-8",
                "TERM": "dumb",
                "USER": "sandbox",
            },
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes}"},
            volumes=self._volumes(),
            mounts=[DockerMount(m.target, str(m.source), type="bind", read_only=m.read_only) for m in self._mounts],
            pids_limit=limits.pids,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            nano_cpus=int(limits.cpus * 1e9),
            ulimits=[
                Ulimit(name="fsize", soft=limits.file_size_bytes, hard=limits.file_size_bytes),
                Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds),
                Ulimit(name="core", soft=0, hard=0),
            ],
            network_mode="none",
            labels={"dma.sandbox": "1", "dma.session": self._session_id},
            log_config=LogConfig(type="none"),
        )
        return str(container.id)

    def _environment(self) -> dict[str, str]:
        return dict(self._network.env) if self._network else {}

    def _volumes(self) -> dict[str, dict[str, str]]:
        volumes = {str(self._workspace): {"bind": "/workspace", "mode": "rw"}}
        if self._network is not None and self._network_dir is not None:
            self._network.write_files(self._network_dir, CONFIG_DIR)
            volumes[str(self._network_dir)] = {"bind": CONFIG_DIR, "mode": "ro"}
        return volumes

    def _init_pidfd(self, container_id: str) -> int:
        """A pidfd of the container's init, checked against Docker after it was opened (so not a recycled pid)."""
        pid = int(self._api.inspect_container(container_id)["State"]["Pid"])
        if pid <= 0:
            raise SandboxError("the sandbox container is not running")
        pidfd = os.pidfd_open(pid)
        if int(self._api.inspect_container(container_id)["State"]["Pid"]) != pid:
            os.close(pidfd)
            raise SandboxError("the sandbox container restarted while its network was set up")
        return pidfd

    async def _attach_network(self, container_id: str) -> None:
        if self._network is None:
            return
        if os.geteuid() != 0:
            raise IsolationUnavailable("networking for docker sandboxes needs a root worker (to reach their loopback)")
        pidfd = await asyncio.to_thread(self._init_pidfd, container_id)
        try:
            await self._network.attach(pidfd, CLONE_NEWNET)
        finally:
            os.close(pidfd)

    async def start(self) -> None:
        """Create the container if needed and start the persistent shell (idempotent)."""
        if self.running:
            return
        if self._container_id is None:
            try:
                self._container_id = await asyncio.to_thread(self._create)
            except ImageNotFound as err:
                raise IsolationUnavailable(
                    f"docker image {self._image} not found: build it with sandbox_images/build-offline.sh"
                ) from err
            except DockerException as err:
                raise IsolationUnavailable(f"docker could not start the sandbox: {err}") from err
            try:
                await self._attach_network(self._container_id)
            except SandboxError:
                await self._remove_container()
                raise
            except (DockerException, OSError) as err:
                await self._remove_container()
                raise SandboxError(f"the sandbox's network cannot be set up: {err}") from err
        try:
            stream = await ExecStream.open(self._api, self._container_id, ["/bin/bash", "--noprofile", "--norc"])
        except (APIError, NotFound) as err:
            # The container vanished (removed by hand, daemon restart): make a new one next time.
            self._container_id = None
            raise SandboxError(f"the sandbox container is gone: {err}") from err
        channel = _ShellChannel(stream, self._kill_pid)
        shell = PersistentShell(channel, self._interrupt, self._limits.output_bytes, self._session_id)
        await shell.handshake()
        channel.pid = shell.pid
        self._shell = shell

    async def _kill_pid(self, pid: int) -> None:
        container_id = self._container_id
        if container_id is None:
            return
        argv = ["python3", "-I", "-S", "-c", "import os, sys; os.kill(int(sys.argv[1]), 9)", str(pid)]
        with suppress(DockerException, OSError, TimeoutError):
            stream = await ExecStream.open(self._api, container_id, argv)
            await asyncio.wait_for(_drain(stream, CappedOutput(0)), KILL_TIMEOUT_SECONDS)
            await stream.close()

    async def _kill_tagged(self, tag: str) -> None:
        container_id = self._container_id
        if container_id is None:
            return
        argv = ["python3", "-I", "-S", "-c", _KILL_TAGGED_SCRIPT, tag]
        with suppress(DockerException, OSError, TimeoutError):
            stream = await ExecStream.open(self._api, container_id, argv)
            await asyncio.wait_for(_drain(stream, CappedOutput(0)), KILL_TIMEOUT_SECONDS)
            await stream.close()

    async def _interrupt(self) -> None:
        shell, container_id = self._shell, self._container_id
        if shell is None or shell.pid is None or container_id is None:
            return
        argv = ["python3", "-I", "-S", "-c", _KILL_SCRIPT, str(shell.pid)]
        try:
            stream = await ExecStream.open(self._api, container_id, argv)
            await asyncio.wait_for(_drain(stream, CappedOutput(0)), KILL_TIMEOUT_SECONDS)
            await stream.close()
        except (DockerException, OSError, TimeoutError):
            # No room for one more process (pids limit) or the container is wedged: remove it, which kills all.
            await self._remove_container()

    async def exec_shell(self, command: str, timeout: float) -> ExecResult:
        """Run ``command`` in the persistent shell, starting the container and shell first if needed."""
        await self.start()
        assert self._shell is not None
        return await self._shell.run(command, timeout)

    async def restart_shell(self) -> None:
        """Replace the shell with a fresh one (the container and workspace stay)."""
        if self._shell is not None:
            await self._shell.close()
            self._shell = None
        await self.start()

    async def run(self, argv: list[str], stdin: bytes | None, timeout: float) -> ExecResult:
        """Run a one-shot command in the container; coreutils ``timeout`` kills it in there when time runs out."""
        if self._container_id is None:
            await self.start()
        assert self._container_id is not None
        limited = ["timeout", "-s", "KILL", f"{timeout:.0f}", *argv]
        sink = CappedOutput(self._limits.output_bytes + MIB)
        tag = secrets.token_hex(8)
        began = time.monotonic()
        try:
            stream = await ExecStream.open(self._api, self._container_id, limited, {"DMA_ONE_SHOT": tag})
        except (APIError, NotFound) as err:
            raise SandboxError(f"cannot run in the sandbox: {err}") from err
        try:
            if stdin:
                await stream.write(stdin)
            stream.close_stdin()
            await asyncio.wait_for(_drain(stream, sink), timeout + 5)
        except TimeoutError:
            await self._kill_tagged(tag)
            return ExecResult(sink.value(), None, sink.total, timed_out=True)
        except asyncio.CancelledError:
            await asyncio.shield(self._kill_tagged(tag))
            raise
        finally:
            await stream.close()
        code = await stream.exit_code()
        # 137 is both "killed by timeout" and "killed by the OOM killer"; the clock tells them apart.
        timed_out = code == 137 and time.monotonic() - began >= timeout
        return ExecResult(sink.value(), None if timed_out else code, sink.total, timed_out=timed_out)

    async def _remove_container(self) -> None:
        if self._network is not None:
            await self._network.detach()
        container_id, self._container_id = self._container_id, None
        if container_id is None:
            return

        def remove() -> None:
            with suppress(NotFound):
                self._api.remove_container(container_id, force=True)

        await asyncio.to_thread(remove)

    async def stop(self) -> None:
        """Remove the container (its root is read-only and ``/tmp`` is scratch); the workspace stays on the host."""
        if self._shell is not None:
            await self._shell.close()
            self._shell = None
        await self._remove_container()

    async def destroy(self) -> None:
        """Stop, then remove the workspace."""
        await self.stop()
        await asyncio.to_thread(shutil.rmtree, self._workspace, True)


async def _drain(stream: ExecStream, sink: CappedOutput) -> None:
    while chunk := await stream.read():
        sink.add(chunk)


class _ShellChannel:
    """The shell's exec stream, whose ``close`` also kills the shell.

    Docker keeps an exec's stdin open after the client hangs up, so the shell would linger and hold a pids slot.
    """

    def __init__(self, stream: ExecStream, kill: Callable[[int], Awaitable[None]]) -> None:
        self._stream = stream
        self._kill = kill
        self.pid: int | None = None

    async def read(self) -> bytes:
        return await self._stream.read()

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def close(self) -> None:
        await self._stream.close()
        if self.pid is not None:
            pid, self.pid = self.pid, None
            await self._kill(pid)
