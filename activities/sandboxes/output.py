"""Bounded output handling: keep the first bytes of a stream, count the rest, and find the shell's end marker."""

from __future__ import annotations

import re
import struct


class CappedOutput:
    """Keeps at most ``cap`` bytes of a stream and counts everything, so 200 MB of output costs ``cap`` of memory."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._kept = bytearray()
        self.total = 0

    def add(self, chunk: bytes | bytearray | memoryview) -> None:
        """Account for ``chunk`` and keep what still fits."""
        self.total += len(chunk)
        room = self._cap - len(self._kept)
        if room > 0:
            self._kept += chunk[:room]

    def value(self) -> bytes:
        return bytes(self._kept)


class MarkerScanner:
    """Splits a shell's output at the end marker ``__DMA_DONE_<nonce>_<status>`` without buffering all of it.

    Everything before the marker goes to ``sink``; only a tail as long as the longest possible marker is held back,
    so a marker split across two reads is still found.
    """

    def __init__(self, nonce: str, sink: CappedOutput) -> None:
        self._pattern = re.compile(rb"\n__DMA_DONE_" + nonce.encode() + rb"_(\d{1,3})\n")
        self._hold = len(nonce) + 24
        self._pending = bytearray()
        self._sink = sink
        self.status: int | None = None

    def feed(self, chunk: bytes) -> bool:
        """Consume a chunk; True once the marker has been seen (``status`` then holds the exit status)."""
        self._pending += chunk
        found = self._pattern.search(self._pending)
        if found is not None:
            self._sink.add(memoryview(self._pending)[: found.start()])
            self.status = int(found.group(1))
            self._pending.clear()
            return True
        if len(self._pending) > self._hold:
            cut = len(self._pending) - self._hold
            self._sink.add(memoryview(self._pending)[:cut])
            del self._pending[:cut]
        return False

    def flush(self) -> None:
        """Hand over what was held back (the stream ended without a marker)."""
        self._sink.add(self._pending)
        self._pending.clear()


class DockerDemux:
    """Decodes Docker's multiplexed attach/exec stream (8-byte header: stream, 0, 0, 0, big-endian size).

    stdout and stderr are both wanted, interleaved as they came, so only the frame payloads are returned.
    """

    _HEADER = struct.Struct(">BxxxL")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._remaining = 0

    def feed(self, data: bytes) -> bytes:
        """The payload bytes contained in ``data`` (frames may span calls)."""
        self._buffer += data
        out = bytearray()
        while self._buffer:
            if self._remaining:
                take = min(self._remaining, len(self._buffer))
                out += self._buffer[:take]
                del self._buffer[:take]
                self._remaining -= take
                continue
            if len(self._buffer) < self._HEADER.size:
                break
            _stream, size = self._HEADER.unpack_from(self._buffer)
            del self._buffer[: self._HEADER.size]
            self._remaining = size
        return bytes(out)


def ansi_c_quote(text: str) -> str:
    """``text`` as one bash ``$'…'`` word on a single line, byte-exact (NUL bytes, which bash cannot hold, dropped)."""
    out: list[str] = ["$'"]
    for byte in text.encode("utf-8", errors="surrogateescape"):
        if byte == 0:
            continue
        if byte in (0x27, 0x5C):  # ' and \
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)
