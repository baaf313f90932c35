"""Opening upstream connections to checked addresses, and splicing a CONNECT tunnel's bytes both ways."""

from __future__ import annotations

import asyncio
import ssl
from contextlib import suppress

from activities.sandboxes.egress.upstream import Resolved

CONNECT_SECONDS = 15.0
TUNNEL_IDLE_SECONDS = 600.0
CHUNK = 64 * 1024


class UpstreamUnreachable(Exception):
    """No checked address of the destination accepted a connection."""


async def open_pinned(
    addresses: list[Resolved], port: int, tls: ssl.SSLContext | None = None, server_hostname: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first of ``addresses`` that answers: only these, never a fresh lookup of the name."""
    errors: list[str] = []
    for address in addresses:
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                return await asyncio.open_connection(
                    str(address.ip), port, ssl=tls, server_hostname=server_hostname if tls else None
                )
        except (OSError, TimeoutError, ssl.SSLError) as err:
            errors.append(f"{address.ip}: {err or 'timeout'}")
    raise UpstreamUnreachable("; ".join(errors) or "no address")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            async with asyncio.timeout(TUNNEL_IDLE_SECONDS):
                data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        # Half-close: the other direction may still have bytes to deliver.
        with suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    first: bytes = b"",
) -> None:
    """Copy bytes both ways until both sides are done (``first``: bytes the sandbox sent before the tunnel opened)."""
    if first:
        server[1].write(first)
    tasks = [asyncio.ensure_future(_pipe(client[0], server[1])), asyncio.ensure_future(_pipe(server[0], client[1]))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    except (OSError, ConnectionError, TimeoutError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, writer in (client, server):
            writer.close()
