"""The host-local registry of session sandboxes (one ``SandboxManager`` per worker process).

Sandboxes are created lazily on first use, stopped after ``idle_timeout`` without use (the workspace stays for the next
start) and destroyed, workspace included, on request. Nothing here falls back to running commands unsandboxed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException, NotFound

from activities.sandboxes import bwrap_packages, packages, workspace
from activities.sandboxes.base import IsolationUnavailable, Mount, Sandbox, SandboxError, SandboxLimits
from activities.sandboxes.bwrap import PATH, BwrapSandbox
from activities.sandboxes.docker_backend import DockerSandbox
from activities.sandboxes.egress import EgressService
from workflows.contracts import SandboxBackend, SandboxSpec

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "dma-sandbox:latest"
UID_BASE = 1_800_000_000
UID_COUNT = 1_000_000


@dataclass
class _Entry:
    sandbox: Sandbox
    spec: SandboxSpec
    last_used: float
    mounts: tuple[Mount, ...] = ()
    busy: int = 0


class SandboxManager:
    """Keeps this host's per-session sandboxes."""

    def __init__(
        self,
        data_dir: Path,
        backend: SandboxBackend = "bwrap",
        limits: SandboxLimits | None = None,
        idle_timeout: float = 900.0,
        docker_image: str = DEFAULT_IMAGE,
        uid_base: int = UID_BASE,
        egress: EgressService | None = None,
    ) -> None:
        """Configure the manager; nothing touches the host until the first sandbox is needed.

        Args:
            data_dir: The worker's data dir; workspaces live in ``<data_dir>/sandboxes/<session_id>/workspace``.
            backend: ``bwrap`` (default) or ``docker``.
            limits: Resource limits of every sandbox.
            idle_timeout: Seconds without use after which the reaper stops a sandbox (files are kept).
            docker_image: Base image of the docker backend.
            uid_base: First host uid handed to bwrap sandboxes when the worker runs as root (one uid per session).
            egress: The sandboxes' way out (a default ``EgressService``: the host's resolver, no credentials).
        """
        self.backend: SandboxBackend = backend
        self.limits = limits or SandboxLimits()
        self.idle_timeout = idle_timeout
        self._root = data_dir.resolve() / "sandboxes"
        self._image = docker_image
        self._uid_base = uid_base
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._uid_lock = asyncio.Lock()
        self._docker: docker.DockerClient | None = None
        self.egress = egress or EgressService()
        self._package_cache = bwrap_packages.PackageCache(data_dir.resolve() / "package-cache")

    def workspace(self, session_id: str) -> Path:
        """The host directory of the session's workspace."""
        return self._root / workspace.check_session_id(session_id) / "workspace"

    def session_dir(self, session_id: str) -> Path:
        """The host directory of everything the session's sandbox keeps (workspace, mounts, uid record)."""
        return self._root / workspace.check_session_id(session_id)

    async def prepare_session_dir(self, session_id: str) -> Path:
        """Create the session's directory and its mounts directory; returns the mounts directory."""
        await asyncio.to_thread(workspace.prepare_root, self._root)
        session_dir = self.session_dir(session_id)
        await asyncio.to_thread(session_dir.mkdir, 0o700, False, True)
        return await asyncio.to_thread(workspace.mounts_dir, session_dir)

    async def owner(self, session_id: str) -> int | None:
        """The host uid that sandbox processes of the session write as, when the worker can hand files to it.

        None when the worker is not root: then bwrap sandboxes run as the worker's own uid (and docker ones need
        world-writable directories, as the workspace has).
        """
        if os.geteuid() != 0:
            return None
        if self.backend == "docker":
            return workspace.DOCKER_SANDBOX_UID
        session_dir = self.session_dir(session_id)
        await asyncio.to_thread(session_dir.mkdir, 0o700, False, True)
        async with self._uid_lock:
            return await asyncio.to_thread(workspace.allocate_uid, self._root, session_dir, self._uid_base, UID_COUNT)

    def get(self, session_id: str) -> Sandbox | None:
        """The session's sandbox if this host has one."""
        entry = self._entries.get(session_id)
        return entry.sandbox if entry else None

    @asynccontextmanager
    async def use(self, spec: SandboxSpec, mounts: Sequence[Mount] = ()) -> AsyncGenerator[Sandbox, None]:
        """The session's started sandbox, created if needed and protected from the idle reaper while in use.

        A sandbox whose mounts differ from ``mounts`` (a resource was added or removed) is rebuilt with them: its
        workspace stays, its processes (and the shell's cwd and environment) do not.
        """
        entry = await self._ensure(spec, tuple(mounts))
        entry.busy += 1
        try:
            yield entry.sandbox
        finally:
            entry.busy -= 1
            entry.last_used = time.monotonic()

    async def ensure(self, spec: SandboxSpec, mounts: Sequence[Mount] | None = None) -> Sandbox:
        """Create and start the session's sandbox if this host has none (idempotent).

        Without ``mounts`` a sandbox that exists keeps its own, and a new one starts with none.
        """
        return (await self._ensure(spec, None if mounts is None else tuple(mounts))).sandbox

    async def _ensure(self, spec: SandboxSpec, mounts: tuple[Mount, ...] | None) -> _Entry:
        sid = workspace.check_session_id(spec.session_id)
        async with self._locks.setdefault(sid, asyncio.Lock()):
            entry = self._entries.get(sid)
            if entry is not None and mounts is not None and entry.mounts != mounts and not entry.busy:
                self._entries.pop(sid)
                await entry.sandbox.stop()
                entry = None
            if entry is None:
                wanted = mounts or ()
                entry = _Entry(await self._build(spec, wanted), spec, time.monotonic(), wanted)
                self._entries[sid] = entry
            entry.last_used = time.monotonic()
            await entry.sandbox.start()
            return entry

    async def _build(self, spec: SandboxSpec, mounts: tuple[Mount, ...]) -> Sandbox:
        await asyncio.to_thread(workspace.prepare_root, self._root)
        session_dir = self._root / spec.session_id
        if self.backend == "bwrap":
            return await self._build_bwrap(spec, session_dir, mounts)
        client = await self._docker_client()
        image = await asyncio.to_thread(packages.image_for, client, self._image, spec.packages)
        owner = workspace.DOCKER_SANDBOX_UID if os.geteuid() == 0 else None
        ws = await asyncio.to_thread(workspace.prepare_workspace, session_dir, owner)
        network = await self.egress.prepare(spec)
        return DockerSandbox(client, spec.session_id, ws, self.limits, image, network, session_dir / "egress", mounts)

    async def _build_bwrap(self, spec: SandboxSpec, session_dir: Path, mounts: tuple[Mount, ...]) -> Sandbox:
        wanted = packages.wanted(spec.packages)
        bwrap_packages.check(wanted)
        host_uid: int | None = None
        if os.geteuid() == 0:
            await asyncio.to_thread(workspace.prepare_mount_point)
            await asyncio.to_thread(session_dir.mkdir, 0o700, False, True)
            async with self._uid_lock:
                host_uid = await asyncio.to_thread(
                    workspace.allocate_uid, self._root, session_dir, self._uid_base, UID_COUNT
                )
        else:
            logger.warning("worker is not root: bwrap sandboxes share the worker's uid and process budget")
        ws = await asyncio.to_thread(workspace.prepare_workspace, session_dir, host_uid)
        root = await asyncio.to_thread(workspace.mounts_dir, session_dir)
        network = await self.egress.prepare(spec)
        if not wanted:
            return BwrapSandbox(spec.session_id, ws, self.limits, host_uid, mounts, root, network)
        sandbox = BwrapSandbox(
            spec.session_id, ws, self.limits, host_uid, mounts, root, network, bwrap_packages.sandbox_env(PATH)
        )
        await sandbox.start()
        try:
            await self._package_cache.provide(sandbox, ws, host_uid, wanted, network)
        except BaseException:
            await sandbox.stop()
            raise
        return sandbox

    async def _docker_client(self) -> docker.DockerClient:
        if self._docker is None:

            def connect() -> docker.DockerClient:
                client = docker.from_env()
                api: Any = client.api
                api.ping()
                return client

            try:
                self._docker = await asyncio.to_thread(connect)
            except DockerException as err:
                raise IsolationUnavailable(f"the docker sandbox backend cannot reach a Docker engine: {err}") from err
        return self._docker

    async def stop(self, session_id: str) -> None:
        """Stop the session's sandbox; its workspace stays for the next use."""
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            await entry.sandbox.stop()

    async def destroy(self, session_id: str) -> None:
        """Stop the session's sandbox and remove its workspace (idempotent; works after a worker restart too)."""
        sid = workspace.check_session_id(session_id)
        async with self._locks.setdefault(sid, asyncio.Lock()):
            entry = self._entries.pop(sid, None)
            if entry is not None:
                await entry.sandbox.destroy()
            if self.backend == "docker":
                await self._remove_stray_container(sid)
            await asyncio.to_thread(workspace.remove_session, self._root / sid)
        self._locks.pop(sid, None)

    async def _remove_stray_container(self, session_id: str) -> None:
        client = await self._docker_client()

        def remove() -> None:
            with suppress(NotFound):
                client.containers.get(f"dma-sbx-{session_id}").remove(force=True)

        await asyncio.to_thread(remove)

    async def reap_idle(self) -> list[str]:
        """Stop every sandbox unused for ``idle_timeout`` seconds; returns their session ids."""
        now = time.monotonic()
        idle = [sid for sid, e in self._entries.items() if not e.busy and now - e.last_used >= self.idle_timeout]
        for sid in idle:
            with suppress(SandboxError, DockerException, OSError):
                await self.stop(sid)
        return idle

    async def run_reaper(self, every: float = 30.0) -> None:
        """Reap idle sandboxes forever (run it as a task; cancel it on shutdown)."""
        while True:
            await asyncio.sleep(every)
            stopped = await self.reap_idle()
            if stopped:
                logger.info("stopped %s idle sandbox(es): %s", len(stopped), stopped)

    async def close(self) -> None:
        """Stop every sandbox of this host (worker shutdown); workspaces stay."""
        for sid in list(self._entries):
            with suppress(SandboxError, DockerException, OSError):
                await self.stop(sid)
        if self._docker is not None:
            await asyncio.to_thread(self._docker.close)
            self._docker = None
