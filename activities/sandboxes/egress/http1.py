"""HTTP/1.1 over asyncio streams with ``h11``: one ``Peer`` per side of the proxy, and the answers it gives itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

import h11

MAX_HEADER_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
# Headers that describe one hop, not the message: never passed on (RFC 9110 §7.6.1), plus those named in Connection.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
        b"expect",
    }
)
Headers = list[tuple[bytes, bytes]]


class Peer:
    """One HTTP/1.1 connection: the sandbox's (``h11.SERVER``) or an upstream server's (``h11.CLIENT``)."""

    def __init__(
        self, role: type[h11.CLIENT] | type[h11.SERVER], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.conn = h11.Connection(role, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.reader = reader
        self.writer = writer

    async def next_event(self, timeout: float) -> h11.Event | type[h11.PAUSED]:
        """The next event; ``TimeoutError`` when nothing arrives for ``timeout`` seconds."""
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event  # pyright: ignore[reportReturnType] - NEED_DATA is excluded above
            async with asyncio.timeout(timeout):
                data = await self.reader.read(READ_BYTES)
            self.conn.receive_data(data)

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def reusable(self) -> bool:
        """Both sides finished their message and may start another on this connection."""
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


def passable(headers: Sequence[tuple[bytes, bytes]], drop: Sequence[bytes] = ()) -> Headers:
    """``headers`` without the hop-by-hop ones (and without ``drop``)."""
    named = {
        token.strip().lower() for name, value in headers if name.lower() == b"connection" for token in value.split(b",")
    }
    skip = HOP_BY_HOP | named | {name.lower() for name in drop}
    return [(name, value) for name, value in headers if name.lower() not in skip]


def header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lowercase), if any."""
    return next((value for key, value in headers if key.lower() == name), None)


async def next_request(client: Peer, timeout: float) -> h11.Request | None:
    """The sandbox's next request; None when it closed, went quiet, or sent something unreadable (answered)."""
    try:
        event = await client.next_event(timeout)
    except h11.RemoteProtocolError as err:
        if err.error_status_hint == 431:
            body = f"The sandbox's egress proxy refuses request headers over {MAX_HEADER_BYTES // 1024} KiB.\n"
            await answer(client, 431, "Request Header Fields Too Large", body)
        else:
            await answer(client, 400, "Bad Request", f"The sandbox's egress proxy cannot read the request: {err}.\n")
        return None
    except TimeoutError:
        return None
    if not isinstance(event, h11.Request):
        return None
    # h11 bounds only what it buffers of an unfinished head; a head that arrived whole is measured here.
    if head_size(event) > MAX_HEADER_BYTES:
        body = f"The sandbox's egress proxy refuses request headers over {MAX_HEADER_BYTES // 1024} KiB.\n"
        await answer(client, 431, "Request Header Fields Too Large", body)
        return None
    return event


def head_size(request: h11.Request) -> int:
    """The size of a request's head as sent (request line and header lines)."""
    size = len(request.method) + len(request.target) + 12
    return size + sum(len(name) + len(value) + 4 for name, value in request.headers)


async def answer(client: Peer, status: int, reason: str, body: str, policy: str | None = None) -> None:
    """Answer the sandbox from the proxy itself, outside h11's state (the caller then closes the connection)."""
    extra = [("X-Dma-Egress-Policy", policy)] if policy else []
    with suppress(OSError, ConnectionError):
        client.writer.write(raw_response(status, reason, body, extra))
        await client.writer.drain()


def raw_response(status: int, reason: str, body: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """A complete ``Connection: close`` response, written by the proxy itself (outside any h11 state)."""
    payload = body.encode()
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(payload)}",
    ]
    lines += ["Connection: close", *(f"{name}: {value}" for name, value in extra)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
