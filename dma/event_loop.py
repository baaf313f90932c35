"""The event loop dma's processes run on: uvloop where it is installed (it is a dependency), else asyncio's own.

uvloop's callbacks, sockets and cross-thread wake-ups are implemented in C (libuv). A turn crosses the loop many
times (HTTP, Temporal's core bridge, the database driver's thread hand-offs, SSE writes), so this is a per-turn cost
cut with no change to any code that runs on the loop (docs/performance.md measures it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The constructor of uvloop's loop, or asyncio's default when uvloop cannot be imported (e.g. on Windows)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every platform it supports
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop of ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
