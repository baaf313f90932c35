"""The worker process of ``dma dev`` (``python -m workers.dev_worker``): ``dma worker`` without its banner.

``dma dev`` starts it with the settings it resolved (Temporal address, task queue, database, data dir and secret key)
in its environment, as an operator would start ``dma worker``. It runs beside the API, not inside its process: the
two then use a core each (one Python process holds one core at most), which is most of a turn's CPU on a small
machine (docs/performance.md). SIGTERM or SIGINT stops it cleanly; it also gets SIGTERM when ``dma dev`` dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from dma import event_loop
from dma.cli import logs
from dma.heap import freeze_startup_heap
from dma.settings import WorkerSettings
from workers.main import running_worker


async def _serve(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The API of ``dma dev`` runs the redelivery reconciler; one per deployment is enough.
    async with running_worker(settings, reconcile=False):
        freeze_startup_heap()
        await stop.wait()


def main() -> None:
    """Run until SIGTERM or SIGINT."""
    settings = WorkerSettings()
    logs.configure(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        event_loop.run(_serve(settings))


if __name__ == "__main__":
    main()
