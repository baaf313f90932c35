"""``dma dev``: the Temporal dev server, migrations, one worker and the API in one process tree.

Start order: migrations, the Temporal dev server (its own session, so a terminal's Ctrl-C reaches only this process),
the worker and the API; ``ready`` is called once the API listens. The first SIGINT or SIGTERM stops them in reverse
order (API, worker, Temporal); a second one kills the Temporal server and leaves at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Generator

import uvicorn

from api.app import create_app
from dma import event_loop
from dma.bus_factory import make_bus
from dma.devserver import start_dev_server, stop_process
from dma.settings import ApiSettings, WorkerSettings
from dma.store import migrate
from dma.store.engine import Database
from dma.temporal import connect_client
from workers.main import running_worker

# Open SSE streams never finish on their own; uvicorn cancels them after this long once asked to stop.
GRACEFUL_SHUTDOWN_SECONDS = 2
FORCED_EXIT_CODE = 130


class DevStartError(RuntimeError):
    """Something ``dma dev`` starts did not come up; the message says what and where its log is."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ``dma dev`` decides what Ctrl-C stops, and in which order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _Stopper:
    """First signal: stop in order (or abandon start-up). Second: kill the Temporal server and leave."""

    def __init__(self, force: Callable[[], None]) -> None:
        self.stop = asyncio.Event()
        self.force = force
        self.startup: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        if self.stop.is_set():
            self.force()
        self.stop.set()
        if self.startup is not None and not self.startup.done():
            self.startup.cancel()


async def _serve(api: ApiSettings, worker: WorkerSettings, stopper: _Stopper, ready: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopper)
    db = Database.connect(api.resolved_database_url())
    # Sockets even here: a `dma worker` started beside `dma dev` on the same data dir reaches its streams too.
    bus = make_bus(db.url, api.data_dir, listen=True)
    await bus.start()
    try:
        client = await connect_client(api.temporal_address, api.temporal_namespace)
        worker = worker.model_copy(
            update={"temporal_address": api.temporal_address, "task_queue": api.task_queue, "database_url": db.url}
        )
        # API and worker share this process and its bus, so SSE polling is only a safety net here.
        api = api.model_copy(update={"sse_poll_seconds": api.sse_poll_seconds or 2.0})
        app = create_app(api, db=db, temporal=client, bus=bus)
        config = uvicorn.Config(
            app,
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        server = _Server(config)
        async with running_worker(worker, client=client, db=db, bus=bus, reconcile=False):
            await _serve_api(server, stopper, ready)
    finally:
        await bus.close()
        await db.dispose()


async def _serve_api(server: _Server, stopper: _Stopper, ready: Callable[[], None]) -> None:
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stopper.stop.wait())
    try:
        while not server.started and not serving.done() and not stopper.stop.is_set():
            await asyncio.sleep(0.05)
        if server.started and not stopper.stop.is_set():
            stopper.startup = None  # from now on a signal stops things in order instead of abandoning start-up
            ready()
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        try:
            await serving
        except SystemExit:
            # uvicorn exits this way when it cannot bind; the port was free a moment ago, so something took it.
            raise DevStartError(f"the API could not listen on {server.config.host}:{server.config.port}") from None
        if not server.started and not stopper.stop.is_set():
            raise DevStartError(f"the API did not start on {server.config.host}:{server.config.port}")
    finally:
        stopping.cancel()


def run_dev(
    api: ApiSettings, worker: WorkerSettings, temporal_port: int, ui_port: int | None, ready: Callable[[], None]
) -> None:
    """Start everything, call ``ready`` once the API listens, block until a signal, then stop everything.

    Raises:
        DevStartError: when the Temporal server or the API did not start (nothing is left running).
    """
    api = api.model_copy(update={"database_url": api.resolved_database_url()})
    migrate.upgrade(api.database_url)
    try:
        temporal: subprocess.Popen[bytes] = start_dev_server(api.data_dir, temporal_port, ui_port)
    except RuntimeError as err:
        raise DevStartError(str(err)) from None

    def force() -> None:
        temporal.kill()
        os._exit(FORCED_EXIT_CODE)

    stopper = _Stopper(force)

    async def main() -> None:
        stopper.startup = asyncio.current_task()
        with contextlib.suppress(asyncio.CancelledError):
            await _serve(api, worker, stopper, ready)

    try:
        event_loop.run(main())
    finally:
        stop_process(temporal)
