"""Docker exec streams as asyncio byte pipes: the SDK hijacks the HTTP connection, asyncio then owns the socket.

Only ``exec_create`` / ``exec_start`` / ``exec_inspect`` (short blocking HTTP calls) run in threads; the stream itself
is read without blocking, demultiplexed and capped, so even 200 MB of output never sits in worker memory.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress
from typing import Any

from activities.sandboxes.output import DockerDemux

SANDBOX_USER = "1000:1000"


class ExecStream:
    """One running ``docker exec`` with stdin, stdout and stderr attached (stderr interleaved into the output)."""

    def __init__(self, api: Any, exec_id: str, handle: Any, reader: asyncio.StreamReader, writer: Any) -> None:
        self._api = api
        self.exec_id = exec_id
        # The SDK's socket object keeps the HTTP response alive; dropping it would close the connection under us.
        self._handle = handle
        self._reader = reader
        self._writer: asyncio.StreamWriter = writer
        self._demux = DockerDemux()

    @classmethod
    async def open(
        cls, api: Any, container_id: str, argv: list[str], environment: dict[str, str] | None = None
    ) -> ExecStream:
        """Start ``argv`` in the container as the sandbox user, in ``/workspace``.

        The process gets the container's environment (set explicitly when the container was created; the Docker
        engine never passes on the worker's) plus ``environment``.
        """

        def start() -> tuple[str, Any]:
            created = api.exec_create(
                container_id, argv, stdin=True, stdout=True, stderr=True, tty=False, user=SANDBOX_USER,
                workdir="/workspace", environment=environment,
            )  # fmt: skip
            exec_id = str(created["Id"])
            return exec_id, api.exec_start(exec_id, socket=True)

        exec_id, handle = await asyncio.to_thread(start)
        raw: socket.socket = getattr(handle, "_sock", handle)
        raw.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=raw)
        return cls(api, exec_id, handle, reader, writer)

    async def read(self) -> bytes:
        """The next payload bytes; ``b""`` at the end of the stream."""
        while True:
            data = await self._reader.read(65536)
            if not data:
                return b""
            payload = self._demux.feed(data)
            if payload:
                return payload

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        with suppress(ConnectionError):
            await self._writer.drain()

    def close_stdin(self) -> None:
        """Half-close: the process sees end of input, its output keeps flowing."""
        with suppress(OSError):
            self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    async def exit_code(self) -> int | None:
        """The process's exit status once the stream ended (Docker may need a moment to record it)."""
        for _ in range(50):
            info: dict[str, Any] = await asyncio.to_thread(self._api.exec_inspect, self.exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            await asyncio.sleep(0.01)
        return None
