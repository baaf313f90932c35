"""A tunnel to a credential's host, terminated at the proxy: each request inside gets the session's secrets.

The sandbox's TLS ends here with a certificate from the session's CA; the proxy opens its own TLS to the pinned
address, verifying the server for the tunnel's host. Requests must name that host (a different ``Host`` could steer
the secret to another site behind the same address, a CDN say) and are substituted per ``injection_location``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Protocol

import h11

from activities.sandboxes.egress.authority import SessionAuthority
from activities.sandboxes.egress.credentials import SessionSecret
from activities.sandboxes.egress.exchange import Rewrite, exchange
from activities.sandboxes.egress.http1 import Peer, answer, header, next_request
from activities.sandboxes.egress.policy import ALWAYS
from activities.sandboxes.egress.substitute import Replacer
from activities.sandboxes.egress.targets import Target, host_matches
from activities.sandboxes.egress.tunnel import CONNECT_SECONDS, UpstreamUnreachable, open_pinned
from activities.sandboxes.egress.upstream import Resolved, Upstream

HEADER_SECONDS = 60.0
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Decide(Protocol):
    """Logs one decision (``SessionProxy.decide``)."""

    def __call__(
        self,
        method: str,
        target: Target,
        verdict: str,
        *,
        policy: str | None = None,
        reason: str = "",
        address: str = "",
        intercepted: bool = False,
        substituted: Sequence[str] = (),
    ) -> None: ...


class Interception:
    """The requests of one intercepted tunnel."""

    def __init__(
        self,
        decide: Decide,
        upstream: Upstream,
        client: Peer,
        target: Target,
        addresses: list[Resolved],
        secrets: Sequence[SessionSecret],
        authority: SessionAuthority,
    ) -> None:
        self._decide = decide
        self._upstream = upstream
        self._client = client
        self._target = target
        self._addresses = addresses
        self._authority = authority
        self._names = tuple(secret.secret_name for secret in secrets)
        self._in_headers = Replacer(secret for secret in secrets if secret.header)
        self._in_body = Replacer(secret for secret in secrets if secret.body)

    async def run(self, server: Stream) -> None:
        """Terminate the sandbox's TLS, then relay its requests (``server``: the TCP connection already open)."""
        writer = self._client.writer
        context = self._authority.server_context(self._target.host)
        try:
            await writer.start_tls(context, ssl_handshake_timeout=CONNECT_SECONDS)
        except (ssl.SSLError, OSError, TimeoutError):
            server[1].close()
            return
        client = Peer(h11.SERVER, self._client.reader, writer)
        upstream = await self._secure(server)
        if upstream is None:
            return
        try:
            while True:
                request = await next_request(client, HEADER_SECONDS)
                if request is None:
                    return
                if not host_matches(request, self._target):
                    await self._refuse_host(client, request)
                    return
                upstream = upstream or await self._reconnect()
                if upstream is None:
                    await answer(client, 502, "Bad Gateway", f"The egress proxy cannot reach {self._target.host}.\n")
                    return
                await self._exchange(client, upstream, request)
                if not client.reusable():
                    return
                client.conn.start_next_cycle()
                if upstream.reusable():
                    upstream.conn.start_next_cycle()
                else:
                    await upstream.close()
                    upstream = None
        finally:
            if upstream is not None:
                await upstream.close()

    async def _secure(self, server: Stream) -> Peer | None:
        """TLS to the server over the open connection, verified for the tunnel's host; None if that fails."""
        reader, writer = server
        try:
            await writer.start_tls(
                self._upstream.tls_context(), server_hostname=self._target.host, ssl_handshake_timeout=CONNECT_SECONDS
            )
        except (ssl.SSLError, OSError, TimeoutError) as err:
            self._decide("CONNECT", self._target, "refuse", reason=f"upstream TLS failed: {err}")
            writer.close()
            return None
        return Peer(h11.CLIENT, reader, writer)

    async def _reconnect(self) -> Peer | None:
        try:
            tls = self._upstream.tls_context()
            stream = await open_pinned(self._addresses, self._target.port, tls, self._target.host)
        except UpstreamUnreachable:
            return None
        return Peer(h11.CLIENT, *stream)

    async def _exchange(self, client: Peer, upstream: Peer, request: h11.Request) -> None:
        method = request.method.decode(errors="replace")
        host = header(list(request.headers), b"host") or self._target.authority
        self._decide(method, self._target, "allow", intercepted=True, substituted=self._names)
        await exchange(client, upstream, request, Rewrite(bytes(request.target), host, self._in_headers, self._in_body))

    async def _refuse_host(self, client: Peer, request: h11.Request) -> None:
        named = (header(list(request.headers), b"host") or b"").decode(errors="replace")
        reason = f"a request inside the tunnel to {self._target.host} names another host ({named})"
        method = request.method.decode(errors="replace")
        self._decide(method, self._target, "refuse", policy=ALWAYS, reason=reason, intercepted=True)
        body = f"Refused by the sandbox's network policy ({ALWAYS}): {reason}.\n"
        await answer(client, 403, f"Forbidden (network policy: {ALWAYS})", body, ALWAYS)
