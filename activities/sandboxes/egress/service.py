"""The worker's egress service: one proxy per sandbox, serving a listener on that sandbox's own loopback.

``EgressService.prepare`` turns a sandbox spec into a ``SandboxNetwork``: the policy, the session's credentials and
(when there are any) its CA, the variables and files the sandbox needs, and the proxy. The backend starts the sandbox
with those, then calls ``attach`` with a pidfd of a process inside it: the worker opens the proxy's listener in the
sandbox's network namespace (``listener``) and serves it from its own event loop. ``detach`` closes the listener and
every connection when the sandbox stops.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandboxes.egress.addresses import ControlPlane
from activities.sandboxes.egress.authority import SessionAuthority
from activities.sandboxes.egress.client_config import PROXY_PORT, Mirrors, sandbox_config
from activities.sandboxes.egress.credentials import CredentialSource, NoCredentials
from activities.sandboxes.egress.listener import open_listener
from activities.sandboxes.egress.policy import NetworkPolicy
from activities.sandboxes.egress.proxy import SessionProxy
from activities.sandboxes.egress.upstream import SystemUpstream, Upstream
from workflows.contracts import SandboxSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EgressOptions:
    """How a worker's sandboxes reach the network.

    Attributes:
        upstream: Name resolution and upstream trust (``SystemUpstream``; tests bring their own network).
        credentials: Where sessions' ``environment_variable`` credentials come from; None: nowhere here (a worker
            puts its vault store in, ``workers.main.running_worker``).
        control_plane: The worker's own services, refused on every address.
        mirrors: Package indexes used instead of the public registries.
        port: The proxy's port on every sandbox's loopback.
    """

    upstream: Upstream = field(default_factory=SystemUpstream)
    credentials: CredentialSource | None = None
    control_plane: ControlPlane = field(default_factory=ControlPlane)
    mirrors: Mirrors = field(default_factory=Mirrors)
    port: int = PROXY_PORT


class SandboxNetwork:
    """One sandbox's egress: what it is started with, and its proxy while it runs."""

    def __init__(
        self, proxy: SessionProxy, env: dict[str, str], files: dict[str, bytes], port: int, mirrors: Mirrors
    ) -> None:
        self.proxy = proxy
        self.env = env
        self.files = files
        self.port = port
        self.mirrors_env = mirrors.env()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def write_files(self, directory: Path, inside: str) -> None:
        """Write the files under ``inside`` (a directory of the sandbox) into ``directory`` (blocking)."""
        directory.mkdir(mode=0o755, exist_ok=True)
        for path, content in self.files.items():
            target = directory / Path(path).relative_to(inside)
            target.write_bytes(content)
            target.chmod(0o644)

    async def attach(self, pidfd: int, namespaces: int) -> None:
        """Serve the proxy on the loopback of the sandbox whose process ``pidfd`` refers to (replacing any earlier)."""
        await self.detach()
        listener = await open_listener(pidfd, namespaces, self.port)
        self._server = await asyncio.start_server(self._serve, sock=listener)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        sock: socket.socket | None = writer.get_extra_info("socket")
        if sock is not None:
            # asyncio sets it only on sockets it knows to be TCP; without it Nagle holds back every second write.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.proxy.handle(reader, writer)
        finally:
            self._connections.discard(task)

    async def detach(self) -> None:
        """Close the listener and every connection (the sandbox stopped)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        self._connections.clear()


class EgressService:
    """Builds the ``SandboxNetwork`` of every sandbox of a worker."""

    def __init__(self, options: EgressOptions | None = None) -> None:
        self.options = options or EgressOptions()

    async def prepare(self, spec: SandboxSpec) -> SandboxNetwork:
        """The egress of the sandbox ``spec`` describes (its credentials read now)."""
        options = self.options
        source = options.credentials or NoCredentials()
        secrets = list(await source.secrets_for(spec.session_id))
        authority = await asyncio.to_thread(SessionAuthority, spec.session_id) if secrets else None
        policy = NetworkPolicy.of_spec(spec, options.control_plane, options.mirrors.hosts())
        ca_pem = authority.certificate_pem if authority else None
        env, files = await asyncio.to_thread(sandbox_config, secrets, ca_pem, options.mirrors, options.port)
        proxy = SessionProxy(spec.session_id, policy, options.upstream, secrets, authority, source)
        return SandboxNetwork(proxy, env, files, options.port, options.mirrors)
