"""Background heartbeats for long activities: they let Temporal notice a dead worker and deliver cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress

from temporalio import activity

# The SDK throttles what reaches the server (see workers.main); beating often locally makes that throttle the bound.
HEARTBEAT_EVERY_SECONDS = 0.2


@asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_EVERY_SECONDS) -> AsyncGenerator[None, None]:
    """Heartbeat every ``every`` seconds while the block runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
