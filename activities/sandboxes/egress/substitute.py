"""Placeholder substitution in requests: header values (Basic credentials included) and streamed bodies."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence

from activities.sandboxes.egress.credentials import SessionSecret

BASIC_HEADERS = (b"authorization", b"proxy-authorization")


class Replacer:
    """Replaces every placeholder of a set of secrets by its value, in one pass."""

    def __init__(self, secrets: Iterable[SessionSecret]) -> None:
        self._values = {s.placeholder.encode(): s.secret_value.encode() for s in secrets}
        placeholders = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(p) for p in placeholders)) if placeholders else None
        # The longest tail of a chunk that may still be the start of a placeholder continuing in the next chunk.
        self.holdback = max((len(p) for p in placeholders), default=1) - 1

    def __bool__(self) -> bool:
        return self._pattern is not None

    def replace(self, data: bytes) -> bytes:
        """``data`` with every placeholder replaced."""
        if self._pattern is None:
            return data
        return self._pattern.sub(lambda match: self._values[match.group()], data)

    def split(self, data: bytes) -> tuple[bytes, bytes]:
        """``data`` replaced up to a tail that may hold the start of a placeholder, and that raw tail."""
        if self._pattern is None:
            return data, b""
        parts: list[bytes] = []
        last = 0
        for match in self._pattern.finditer(data):
            parts += [data[last : match.start()], self._values[match.group()]]
            last = match.end()
        rest = data[last:]
        cut = max(0, len(rest) - self.holdback)
        parts.append(rest[:cut])
        return b"".join(parts), rest[cut:]


class StreamReplacer:
    """A ``Replacer`` over a body that arrives in chunks (a placeholder may straddle two of them)."""

    def __init__(self, replacer: Replacer) -> None:
        self._replacer = replacer
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        out, self._pending = self._replacer.split(self._pending + chunk)
        return out

    def finish(self) -> bytes:
        tail, self._pending = self._pending, b""
        return tail


def _basic(value: bytes, replacer: Replacer) -> bytes:
    scheme, _, encoded = value.partition(b" ")
    if scheme.lower() != b"basic" or not encoded:
        return value
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return value
    replaced = replacer.replace(decoded)
    return value if replaced == decoded else scheme + b" " + base64.b64encode(replaced)


def headers(items: Sequence[tuple[bytes, bytes]], replacer: Replacer) -> list[tuple[bytes, bytes]]:
    """Request headers with placeholders replaced in their values (inside Basic credentials too)."""
    if not replacer:
        return list(items)
    out: list[tuple[bytes, bytes]] = []
    for name, value in items:
        if name.lower() in BASIC_HEADERS:
            value = _basic(value, replacer)
        out.append((name, replacer.replace(value)))
    return out
