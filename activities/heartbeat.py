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
    """Heartbeat every ``every`` seconds while the block runs, the first time ``every`` seconds in.

    The SDK sends an activity's first heartbeat to the server at once (only later ones are throttled), so beating at
    the start would cost every activity a server round trip, even the many that finish in milliseconds (a plain
    model step). A cancellation still arrives within ``every`` plus the throttle interval, as before, and the
    heartbeat timeout is seconds.
    """

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
