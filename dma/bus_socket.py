"""The bus across processes of one host on SQLite: Unix sockets in ``<data dir>/bus/``.

Each process that serves SSE readers (an API) listens on its own socket there, and so does each process that runs
model requests (a worker), on a socket named ``i-…`` that is sent only ``interrupt`` messages (a worker has no use
for another process's previews). Every publisher (an API or a worker) keeps a connection to each socket it finds and
writes each message to those that take it, as a length-prefixed JSON frame.
A socket nobody listens on any more (its process died) is removed by the first publisher that meets it. Messages of
this process are delivered locally at once and never sent to its own socket, as with ``PgBus``.

Stream sockets rather than datagrams: a datagram queue holds ``net.unix.max_dgram_qlen`` messages (often 10), which
one burst of previews fills, and then doorbells would be lost. Here a frame is dropped only when a reader falls far
behind, and then only previews (best effort by design); doorbells are always written. The directory is private to
the user (0700), so a sandbox, which runs as another user, can neither read nor forge messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import struct
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from dma.bus import BUS_KINDS, STREAM_KINDS, BusKind, BusMessage, LocalBus, Subscription

logger = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct("!I")
MAX_FRAME = 1024 * 1024
# Above this many unsent bytes to one reader, previews to it are dropped until it catches up.
BACKLOG_LIMIT = 4 * 1024 * 1024
SUFFIX = ".sock"
# The name prefix of a socket that takes only interrupts (a worker's).
INTERRUPTS_ONLY = "i-"


def encode(message: BusMessage) -> bytes:
    """One frame: a 4-byte length and the message as JSON."""
    payload = json.dumps({"s": message.session_id, "k": message.kind, "d": message.data}, separators=(",", ":"))
    body = payload.encode()
    return FRAME_HEADER.pack(len(body)) + body


def decode(body: bytes) -> BusMessage | None:
    """The message of a frame's body, or None if it is not one."""
    try:
        loaded: object = json.loads(body)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    raw = cast(dict[str, Any], loaded)
    kind = raw.get("k")
    if kind not in BUS_KINDS:
        return None
    return BusMessage(str(raw.get("s")), kind, dict(raw.get("d") or {}))


class SocketBus:
    """Publishes to every listening process of the data dir.

    ``listen``: this process serves SSE readers (an API) and takes every message; ``interrupts``: it runs model
    requests (a worker) and takes interrupts only.
    """

    def __init__(self, data_dir: Path, *, listen: bool, interrupts: bool = False) -> None:
        self._dir = data_dir / "bus"
        self._listen = listen or interrupts
        prefix = INTERRUPTS_ONLY if interrupts and not listen else ""
        self._name = prefix + secrets.token_hex(8) + SUFFIX
        self._local = LocalBus()
        self._dir_fd: int | None = None
        self._server: asyncio.Server | None = None
        self._outbox: asyncio.Queue[BusMessage] | None = None
        self._peers: dict[str, asyncio.StreamWriter] = {}
        self._accepted: set[asyncio.StreamWriter] = set()
        self._seen_mtime = -1
        self._tasks: list[asyncio.Task[None]] = []

    def _address(self, name: str) -> str:
        # Unix socket paths are limited to 108 bytes; the directory's descriptor keeps any data dir within that.
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    async def start(self) -> None:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._dir.chmod(0o700)
        self._dir_fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY)
        self._outbox = asyncio.Queue(10_000)
        if self._listen:
            self._server = await asyncio.start_unix_server(self._serve, path=self._address(self._name))
        self._tasks = [asyncio.create_task(self._send(), name="dma-bus-send")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(OSError):
                os.unlink(self._address(self._name))
        for writer in [*self._peers.values(), *self._accepted]:
            writer.close()
        self._peers.clear()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        await self._local.close()

    def publish(self, message: BusMessage) -> None:
        self._local.deliver(message)
        if self._outbox is None:
            return
        if self._outbox.full():
            if message.kind == "delta":
                return
            self._outbox.get_nowait()  # keep the doorbell; a lost older message costs latency at most
        self._outbox.put_nowait(message)

    @contextmanager
    def subscribe(
        self, session_id: str, kinds: frozenset[BusKind] = STREAM_KINDS
    ) -> Generator[Subscription, None, None]:
        with self._local.subscribe(session_id, kinds) as subscription:
            yield subscription

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One publisher's connection: hand each frame to this process's readers."""
        self._accepted.add(writer)
        try:
            while True:
                (length,) = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
                if length > MAX_FRAME:
                    return
                message = decode(await reader.readexactly(length))
                if message is not None:
                    self._local.deliver(message)
        except (asyncio.IncompleteReadError, OSError):
            return
        finally:
            self._accepted.discard(writer)
            writer.close()

    async def _send(self) -> None:
        assert self._outbox is not None
        while True:
            message = await self._outbox.get()
            await self._refresh_peers()
            frame = encode(message)
            if len(frame) > MAX_FRAME:
                continue
            for name, writer in list(self._peers.items()):
                if writer.is_closing():
                    del self._peers[name]
                    continue
                if name.startswith(INTERRUPTS_ONLY) and message.kind != "interrupt":
                    continue
                if message.kind == "delta" and writer.transport.get_write_buffer_size() > BACKLOG_LIMIT:
                    continue
                writer.write(frame)

    async def _refresh_peers(self) -> None:
        """Connect to sockets that appeared since the last look (a directory's mtime changes with its entries)."""
        try:
            mtime = os.stat(self._dir).st_mtime_ns
        except OSError:
            return
        closed = [name for name, writer in self._peers.items() if writer.is_closing()]
        for name in closed:
            del self._peers[name]
        if mtime == self._seen_mtime and not closed:
            return
        self._seen_mtime = mtime
        with contextlib.suppress(OSError):
            names = {entry.name for entry in os.scandir(self._dir) if entry.name.endswith(SUFFIX)}
            for name in names - set(self._peers) - {self._name}:
                await self._connect(name)

    async def _connect(self, name: str) -> None:
        try:
            _, writer = await asyncio.open_unix_connection(self._address(name))
        except ConnectionRefusedError:
            # Nobody listens: the process that made it died without cleaning up.
            with contextlib.suppress(OSError):
                os.unlink(self._address(name))
            return
        except OSError as err:
            logger.debug("bus peer %s unreachable: %s", name, err)
            return
        self._peers[name] = writer
