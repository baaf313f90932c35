"""One request and its response relayed between the sandbox's connection and an upstream one, substituting if asked."""

from __future__ import annotations

from dataclasses import dataclass

import h11

from activities.sandboxes.egress import substitute
from activities.sandboxes.egress.http1 import Headers, Peer, header, passable
from activities.sandboxes.egress.substitute import Replacer, StreamReplacer

IDLE_SECONDS = 300.0
# Bodies up to this size are buffered when substituted in, so the request keeps an exact Content-Length; longer
# ones are streamed on in chunked encoding.
BUFFERED_BODY_BYTES = 8 * 1024 * 1024


class ExchangeError(Exception):
    """Either side broke the exchange off (closed, timed out, spoke bad HTTP); the connections cannot be reused."""


@dataclass(frozen=True)
class Rewrite:
    """How the request goes upstream.

    Attributes:
        target: The request target to send (origin form).
        host: The ``Host`` header to send.
        in_headers: Substitution in header values (empty: none).
        in_body: Substitution in the body (empty: none).
    """

    target: bytes
    host: bytes
    in_headers: Replacer
    in_body: Replacer


def _request_headers(request: h11.Request, rewrite: Rewrite, buffered: int | None) -> Headers:
    headers = passable(list(request.headers), drop=(b"host",))
    if rewrite.in_body and request.method not in (b"GET", b"HEAD"):
        headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers += (
            [(b"content-length", str(buffered).encode())]
            if buffered is not None
            else [(b"transfer-encoding", b"chunked")]
        )
    return [(b"host", rewrite.host), *substitute.headers(headers, rewrite.in_headers)]


async def _read_body(client: Peer, limit: int) -> bytes | None:
    """The whole body when it declares at most ``limit`` bytes (None: it is longer or chunked, and still unread)."""
    parts: list[bytes] = []
    while True:
        event = await client.next_event(IDLE_SECONDS)
        if isinstance(event, h11.Data):
            parts.append(bytes(event.data))
            if sum(map(len, parts)) > limit:
                raise ExchangeError("request body longer than declared")
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(parts)
        else:
            raise ExchangeError(f"unexpected {type(event).__name__} in a request body")


async def _stream_body(client: Peer, upstream: Peer, replacer: Replacer) -> None:
    stream = StreamReplacer(replacer)
    while True:
        event = await client.next_event(IDLE_SECONDS)
        if isinstance(event, h11.Data):
            out = stream.feed(bytes(event.data))
            if out:
                await upstream.send(h11.Data(data=out))
        elif isinstance(event, h11.EndOfMessage):
            tail = stream.finish()
            if tail:
                await upstream.send(h11.Data(data=tail))
            await upstream.send(h11.EndOfMessage())
            return
        else:
            raise ExchangeError(f"unexpected {type(event).__name__} in a request body")


async def _send_request(client: Peer, upstream: Peer, request: h11.Request, rewrite: Rewrite) -> None:
    if client.conn.client_is_waiting_for_100_continue:
        # Expect is hop-by-hop here: the sandbox gets its 100 from the proxy, the server gets the body right away.
        await client.send(h11.InformationalResponse(status_code=100, headers=[]))
    declared = header(list(request.headers), b"content-length")
    body: bytes | None = None
    if rewrite.in_body and declared is not None and int(declared) <= BUFFERED_BODY_BYTES:
        body = rewrite.in_body.replace(await _read_body(client, int(declared)) or b"")
    headers = _request_headers(request, rewrite, len(body) if body is not None else None)
    await upstream.send(h11.Request(method=request.method, target=rewrite.target, headers=headers))
    if body is not None:
        if body:
            await upstream.send(h11.Data(data=body))
        await upstream.send(h11.EndOfMessage())
    else:
        await _stream_body(client, upstream, rewrite.in_body)


async def _relay_response(upstream: Peer, client: Peer) -> None:
    while True:
        event = await upstream.next_event(IDLE_SECONDS)
        if isinstance(event, h11.InformationalResponse):
            if event.status_code != 101:
                await client.send(
                    h11.InformationalResponse(status_code=event.status_code, headers=passable(list(event.headers)))
                )
        elif isinstance(event, h11.Response):
            headers = passable(list(event.headers))
            await client.send(h11.Response(status_code=event.status_code, headers=headers, reason=event.reason))
        elif isinstance(event, h11.Data):
            await client.send(h11.Data(data=event.data))
        elif isinstance(event, h11.EndOfMessage):
            await client.send(h11.EndOfMessage())
            return
        else:
            raise ExchangeError(f"the server sent {type(event).__name__} before its response ended")


async def exchange(client: Peer, upstream: Peer, request: h11.Request, rewrite: Rewrite) -> None:
    """Send ``request`` (its body still to be read from ``client``) upstream and relay the response back.

    Raises:
        ExchangeError: the exchange broke off; close both connections.
    """
    try:
        await _send_request(client, upstream, request, rewrite)
        await _relay_response(upstream, client)
    except (h11.ProtocolError, OSError, ConnectionError, TimeoutError, ValueError) as err:
        raise ExchangeError(str(err) or type(err).__name__) from err
