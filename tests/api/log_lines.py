"""Every log line of the stack's API and worker at DEBUG, for tests that prove a secret is in none of them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class LogLines(logging.Handler):
    """Every log record of dma's API and worker at DEBUG (the stack's threads).

    Left out: the test's own SDK client (the main thread, which logs the requests it sends, secrets included) and
    the fake MCP server, which is where the secrets are meant to go.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName in ("MainThread", "fake-mcp-server"):
            return
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is kept raw
            self.lines.append(repr(record.__dict__))


@contextmanager
def debug_log_lines() -> Iterator[LogLines]:
    """Root logging at DEBUG into a ``LogLines`` for the duration of the block."""
    root = logging.getLogger()
    recorder = LogLines()
    recorder.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(level)
