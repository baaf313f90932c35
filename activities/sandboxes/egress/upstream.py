"""The proxy's view of the outside world: how names resolve and which servers it trusts for intercepted TLS.

Names are resolved here, on the worker, never inside a sandbox (a sandbox has no DNS at all). ``SystemUpstream`` is the
only implementation a worker uses; tests substitute one that maps names onto their own network namespaces, and only
such a test upstream can vouch for a non-public address (``Resolved.exempt``): nothing a worker reads from its
settings or environment can.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Protocol

from activities.sandboxes.egress.addresses import IPAddress, parse_ip

RESOLVE_TIMEOUT_SECONDS = 10.0


class ResolveError(Exception):
    """A name did not resolve (the message says why)."""


@dataclass(frozen=True)
class Resolved:
    """One address a name resolved to.

    Attributes:
        ip: The address.
        exempt: The address rules (no private, loopback, ... addresses) do not apply to it. Only a test upstream sets
            this, for the test network's own hosts; IP literals and ``SystemUpstream`` answers never carry it.
    """

    ip: IPAddress
    exempt: bool = False


class Upstream(Protocol):
    """Name resolution and upstream TLS trust of the egress proxy."""

    async def resolve(self, host: str, port: int) -> list[Resolved]:
        """The addresses of ``host`` (a name, never an IP literal); ``ResolveError`` when there are none."""
        ...

    def tls_context(self) -> ssl.SSLContext:
        """A client context that verifies upstream servers (used where the proxy terminates the sandbox's TLS)."""
        ...


class SystemUpstream:
    """The worker host's resolver and trust store."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    async def resolve(self, host: str, port: int) -> list[Resolved]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as err:
            raise ResolveError(f"{host} does not resolve: {err or 'timeout'}") from err
        found: list[Resolved] = []
        for info in infos:
            ip = parse_ip(str(info[4][0]))
            if ip is not None and all(known.ip != ip for known in found):
                found.append(Resolved(ip))
        if not found:
            raise ResolveError(f"{host} has no address")
        return found

    def tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = client_context(None)
        return self._context


def client_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying TLS client context speaking HTTP/1.1, trusting ``cafile`` or else the system's roots."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context
