"""``dma dev``: the Temporal dev server, migrations, one worker and the API in one process tree."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess

import uvicorn

from api.app import create_app
from dma.bus_factory import make_bus
from dma.devserver import start_dev_server
from dma.settings import ApiSettings, WorkerSettings
from dma.store import migrate
from dma.store.engine import Database
from dma.temporal import connect_client
from workers.main import running_worker

logger = logging.getLogger(__name__)


def _banner(api: ApiSettings, key: str, ui_port: int | None) -> str:
    lines = [
        "",
        "dma dev is running",
        f"  API            http://{api.host}:{api.port}",
        f"  Temporal UI    http://127.0.0.1:{ui_port}" if ui_port else "  Temporal UI    (disabled)",
        f"  API key        {key}",
        f"  data dir       {api.data_dir.resolve()}",
        "  offline model: create an agent with model 'scripted' (no provider key needed)",
        "  Ctrl-C stops everything.",
        "",
    ]
    if api.dev_keyless:
        lines.insert(-2, "  WARNING: keyless mode: any local process can use this API without a key")
    return "\n".join(lines)


async def _serve(api: ApiSettings, worker: WorkerSettings, key: str, ui_port: int | None) -> None:
    db = Database.connect(api.resolved_database_url())
    # Sockets even here: a `dma worker` started beside `dma dev` on the same data dir reaches its streams too.
    bus = make_bus(db.url, api.data_dir, listen=True)
    await bus.start()
    client = await connect_client(api.temporal_address, api.temporal_namespace)
    worker = worker.model_copy(
        update={"temporal_address": api.temporal_address, "task_queue": api.task_queue, "database_url": db.url}
    )
    # API and worker share this process and its bus, so SSE polling is only a safety net here.
    api = api.model_copy(update={"sse_poll_seconds": api.sse_poll_seconds or 2.0})
    app = create_app(api, db=db, temporal=client, bus=bus)
    server = uvicorn.Server(uvicorn.Config(app, host=api.host, port=api.port, log_level="warning"))
    async with running_worker(worker, client=client, db=db, bus=bus, reconcile=False):
        print(_banner(api, key, ui_port), flush=True)  # noqa: T201 - the CLI's own output
        await server.serve()
    await bus.close()
    await db.dispose()


def run_dev(api: ApiSettings, worker: WorkerSettings, key: str, temporal_port: int, ui_port: int | None) -> int:
    """Start everything, block until Ctrl-C, then stop everything."""
    api = api.model_copy(update={"database_url": api.resolved_database_url()})
    migrate.upgrade(api.database_url)
    temporal: subprocess.Popen[bytes] = start_dev_server(api.data_dir, temporal_port, ui_port)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(api, worker, key, ui_port))
    finally:
        temporal.terminate()
        try:
            temporal.wait(timeout=10)
        except subprocess.TimeoutExpired:
            temporal.kill()
    return 0
