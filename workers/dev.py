"""``dma dev``: the Temporal dev server, migrations, one worker and the API in one process tree.

Start order: migrations, the Temporal dev server, the worker (``workers.dev_worker``), then the API in this process;
``ready`` is called once the worker polls and the API listens. The server and the worker run in sessions of their own,
so a terminal's Ctrl-C reaches only this process, and get SIGTERM if it dies. The first SIGINT or SIGTERM stops them
in reverse order (API, worker, Temporal); a second one kills the worker and the Temporal server and leaves at once.
A worker that exits on its own stops ``dma dev`` (its output is on the terminal too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Callable, Generator

import uvicorn
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.app import create_app
from dma import event_loop
from dma.bus_factory import make_bus
from dma.devserver import die_with_parent, start_dev_server, stop_process
from dma.heap import freeze_startup_heap
from dma.settings import ApiSettings, WorkerSettings
from dma.store import migrate
from dma.store.engine import Database
from dma.temporal import connect_client

# Open SSE streams never finish on their own; uvicorn cancels them after this long once asked to stop.
GRACEFUL_SHUTDOWN_SECONDS = 2
FORCED_EXIT_CODE = 130
# Importing the worker and connecting takes a second or two; a cold machine's first start may take much longer.
WORKER_START_SECONDS = 120.0
WORKER_WATCH_SECONDS = 0.5


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
        self.worker: subprocess.Popen[bytes] | None = None

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
    # The worker is another process: it reaches this API's streams through the sockets in the data dir.
    bus = make_bus(db.url, api.data_dir, listen=True)
    await bus.start()
    try:
        client = await connect_client(api.temporal_address, api.temporal_namespace)
        worker = worker.model_copy(
            update={"temporal_address": api.temporal_address, "task_queue": api.task_queue, "database_url": db.url}
        )
        # The bus wakes SSE readers at once; polling is only a safety net for a lost message.
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
        freeze_startup_heap()
        async with _worker_process(worker, client, stopper) as child:
            await _serve_api(server, stopper, ready, child)
    finally:
        await bus.close()
        await db.dispose()


def worker_environment(worker: WorkerSettings) -> dict[str, str]:
    """The environment of the worker process: this one's, plus what ``dma dev`` resolved for it.

    The secret key goes as ``dma worker`` takes it (``DMA_SECRET_KEY``); sandboxes never see a worker's environment
    (each sandbox process starts with one of its own, ``tests/api/test_sandbox_secrets.py``).
    """
    env = {**os.environ}
    env.update(
        {
            "DMA_TEMPORAL_ADDRESS": worker.temporal_address,
            "DMA_TASK_QUEUE": worker.task_queue,
            "DMA_DATABASE_URL": worker.resolved_database_url(),
            "DMA_DATA_DIR": str(worker.data_dir),
        }
    )
    if worker.secret_key is not None:
        env["DMA_SECRET_KEY"] = worker.secret_key.get_secret_value()
    return env


@contextlib.asynccontextmanager
async def _worker_process(
    worker: WorkerSettings, client: Client, stopper: _Stopper
) -> AsyncGenerator[subprocess.Popen[bytes], None]:
    """The worker process, once it polls the task queue; stopped (SIGTERM, then SIGKILL) when the block ends."""
    child = subprocess.Popen(
        [sys.executable, "-m", "workers.dev_worker"],
        env=worker_environment(worker),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    stopper.worker = child
    try:
        await _wait_polling(client, worker.task_queue, child)
        yield child
    finally:
        await asyncio.to_thread(stop_process, child)


async def _wait_polling(client: Client, task_queue: str, child: subprocess.Popen[bytes]) -> None:
    """Until the worker process polls ``task_queue`` (Temporal names pollers ``pid@host``).

    Raises:
        DevStartError: the worker exited, or did not poll within ``WORKER_START_SECONDS``.
    """
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + WORKER_START_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise DevStartError(f"the worker exited while starting (exit code {child.returncode}; its output is above)")
        reply = await client.workflow_service.describe_task_queue(request)
        if any(poller.identity.startswith(f"{child.pid}@") for poller in reply.pollers):
            return
        await asyncio.sleep(0.05)
    raise DevStartError(f"the worker did not poll {task_queue} within {WORKER_START_SECONDS:.0f} s")


async def _watch(child: subprocess.Popen[bytes]) -> int:
    while child.poll() is None:
        await asyncio.sleep(WORKER_WATCH_SECONDS)
    return child.returncode


async def _serve_api(
    server: _Server, stopper: _Stopper, ready: Callable[[], None], child: subprocess.Popen[bytes]
) -> None:
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stopper.stop.wait())
    watching = asyncio.create_task(_watch(child))
    try:
        while not server.started and not serving.done() and not stopper.stop.is_set():
            await asyncio.sleep(0.05)
        if server.started and not stopper.stop.is_set():
            stopper.startup = None  # from now on a signal stops things in order instead of abandoning start-up
            ready()
            await asyncio.wait({serving, stopping, watching}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        try:
            await serving
        except SystemExit:
            # uvicorn exits this way when it cannot bind; the port was free a moment ago, so something took it.
            raise DevStartError(f"the API could not listen on {server.config.host}:{server.config.port}") from None
        if not server.started and not stopper.stop.is_set():
            raise DevStartError(f"the API did not start on {server.config.host}:{server.config.port}")
        if watching.done() and not stopper.stop.is_set():
            raise DevStartError(f"the worker exited (exit code {watching.result()}; its output is above)")
    finally:
        stopping.cancel()
        watching.cancel()


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
        if stopper.worker is not None:
            stopper.worker.kill()
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
