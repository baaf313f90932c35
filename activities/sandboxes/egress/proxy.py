"""The egress proxy of one sandbox: an HTTP/1.1 forward proxy with CONNECT, serving the sandbox's loopback listener.

Every request is judged on its own (``NetworkPolicy.admit``): a forwarded request to the name in its URL, a tunnel to
the authority of its CONNECT, never to a ``Host`` header, a TLS SNI or what the sandbox resolved (it resolves
nothing). A redirect is the client's next request, so it is judged like any other. Connections go to the addresses
that were checked. Tunnels to hosts that one of the session's credentials covers are terminated here with the
session's CA and their requests substituted (``exchange``); every other tunnel carries the sandbox's bytes untouched.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import h11

from activities.sandboxes.egress import decisions
from activities.sandboxes.egress.authority import SessionAuthority
from activities.sandboxes.egress.credentials import CredentialSource, CredentialsUnavailable, SessionSecret
from activities.sandboxes.egress.decisions import Decision
from activities.sandboxes.egress.exchange import ExchangeError, Rewrite, exchange
from activities.sandboxes.egress.http1 import Peer, answer, next_request
from activities.sandboxes.egress.intercept import Interception
from activities.sandboxes.egress.policy import NetworkPolicy, Refused
from activities.sandboxes.egress.substitute import Replacer
from activities.sandboxes.egress.targets import BadTarget, Target, forward_target, parse_authority
from activities.sandboxes.egress.tunnel import UpstreamUnreachable, open_pinned, splice
from activities.sandboxes.egress.upstream import Resolved, ResolveError, Upstream

HEADER_SECONDS = 60.0
MAX_CONNECTIONS = 128
NO_SUBSTITUTION = Replacer(())


class SessionProxy:
    """Serves the connections a sandbox opens to its proxy port."""

    def __init__(
        self,
        session_id: str,
        policy: NetworkPolicy,
        upstream: Upstream,
        secrets: Sequence[SessionSecret] = (),
        authority: SessionAuthority | None = None,
        source: CredentialSource | None = None,
    ) -> None:
        """Set up the proxy of one sandbox.

        Args:
            session_id: Names the sandbox in decisions.
            policy: What the sandbox may reach.
            upstream: Name resolution and upstream TLS trust.
            secrets: The session's ``environment_variable`` credentials.
            authority: The session's CA; required when there are ``secrets``.
            source: Where ``secrets`` came from, asked again before a tunnel uses any (None: they never change).
        """
        self.session_id = session_id
        self.policy = policy
        self.upstream = upstream
        self.secrets = tuple(secrets)
        self.authority = authority
        self.source = source
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        # The latest refusals, for error messages of work the worker runs in the sandbox (package installs).
        self.refusals: deque[str] = deque(maxlen=10)

    def decide(
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
    ) -> None:
        """Log one decision about ``target`` (``policy`` defaults to the sandbox's own)."""
        decision = Decision(
            self.session_id, method, target.host, target.port, verdict, policy or self.policy.mode, reason, address,
            intercepted, tuple(substituted),
        )  # fmt: skip
        decisions.record(decision)
        if verdict == "refuse":
            self.refusals.append(f"{method} {target.host}:{target.port} ({decision.policy}: {reason})")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection of the sandbox (the ``asyncio.start_server`` callback)."""
        client = Peer(h11.SERVER, reader, writer)
        if self._slots.locked():
            await answer(client, 503, "Service Unavailable", "Too many connections to the sandbox's egress proxy.\n")
            await client.close()
            return
        async with self._slots:
            try:
                await self._serve(client)
            except (OSError, ConnectionError, TimeoutError, ExchangeError, h11.ProtocolError):
                pass
            finally:
                await client.close()

    async def _serve(self, client: Peer) -> None:
        pool: dict[Target, Peer] = {}
        try:
            while True:
                request = await next_request(client, HEADER_SECONDS)
                if request is None:
                    return
                if request.method == b"CONNECT":
                    await self._tunnel(client, request)
                    return
                if not await self._forward(client, request, pool) or not client.reusable():
                    return
                client.conn.start_next_cycle()
        finally:
            for peer in pool.values():
                await peer.close()

    async def admit(self, client: Peer, method: str, target: Target) -> list[Resolved] | None:
        """The checked addresses of ``target``, or None after answering the sandbox with the refusal."""
        try:
            return await self.policy.admit(self.upstream, target.host, target.port)
        except Refused as refused:
            self.decide(method, target, "refuse", policy=refused.policy, reason=refused.reason)
            await answer(client, 403, f"Forbidden (network policy: {refused.policy})", f"{refused}\n", refused.policy)
        except ResolveError as err:
            self.decide(method, target, "refuse", reason=str(err))
            await answer(client, 502, "Bad Gateway", f"The sandbox's egress proxy cannot resolve: {err}.\n")
        return None

    async def _forward(self, client: Peer, request: h11.Request, pool: dict[Target, Peer]) -> bool:
        method = request.method.decode(errors="replace")
        try:
            target, origin = forward_target(request)
        except BadTarget as err:
            await answer(client, 400, "Bad Request", f"The sandbox's egress proxy cannot forward this: {err}.\n")
            return False
        addresses = await self.admit(client, method, target)
        if addresses is None:
            return False
        upstream = pool.pop(target, None)
        if upstream is None:
            try:
                upstream = Peer(h11.CLIENT, *await open_pinned(addresses, target.port))
            except UpstreamUnreachable as err:
                self.decide(method, target, "refuse", reason=f"unreachable: {err}")
                await answer(client, 502, "Bad Gateway", f"The sandbox's egress proxy cannot reach {target.host}.\n")
                return False
        self.decide(method, target, "allow", address=_peer_ip(upstream.writer))
        try:
            await exchange(
                client, upstream, request, Rewrite(origin, target.authority, NO_SUBSTITUTION, NO_SUBSTITUTION)
            )
        except ExchangeError:
            await upstream.close()
            return False
        if upstream.reusable():
            upstream.conn.start_next_cycle()
            pool[target] = upstream
        else:
            await upstream.close()
        return True

    async def _tunnel(self, client: Peer, request: h11.Request) -> None:
        try:
            target = parse_authority(bytes(request.target))
        except BadTarget as err:
            await answer(client, 400, "Bad Request", f"The sandbox's egress proxy cannot open this tunnel: {err}.\n")
            return
        addresses = await self.admit(client, "CONNECT", target)
        if addresses is None:
            return
        covering = await self._covering(client, target)
        if covering is None:
            return
        try:
            server = await open_pinned(addresses, target.port)
        except UpstreamUnreachable as err:
            self.decide("CONNECT", target, "refuse", reason=f"unreachable: {err}")
            await answer(client, 502, "Bad Gateway", f"The sandbox's egress proxy cannot reach {target.host}.\n")
            return
        intercepted = bool(covering) and self.authority is not None
        self.decide("CONNECT", target, "allow", address=_peer_ip(server[1]), intercepted=intercepted)
        early, _closed = client.conn.trailing_data
        client.writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await client.writer.drain()
        if intercepted and self.authority is not None and not early:
            interception = Interception(self.decide, self.upstream, client, target, addresses, covering, self.authority)
            await interception.run(server)
        else:
            await splice((client.reader, client.writer), server, bytes(early))

    async def _covering(self, client: Peer, target: Target) -> list[SessionSecret] | None:
        """The secrets a tunnel to ``target`` gets, as their source has them now (None: refused, answered)."""
        covering = [secret for secret in self.secrets if secret.covers(target.host)]
        if not covering or self.source is None:
            return covering
        try:
            current = await self.source.current(self.session_id, covering)
        except CredentialsUnavailable as err:
            self.decide("CONNECT", target, "refuse", reason=str(err))
            message = "The sandbox's egress proxy cannot check its credentials.\n"
            await answer(client, 503, "Service Unavailable", message)
            return None
        # Archived or deleted since the sandbox started: gone; changed: as they are now.
        return [secret for secret in current if secret.covers(target.host)]


def _peer_ip(writer: asyncio.StreamWriter) -> str:
    name = writer.get_extra_info("peername")
    return str(name[0]) if name else ""
