"""A real dma stack for tests: API (uvicorn) and worker in a background thread, against a real Temporal dev server."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from activities.sandboxes.egress import EgressOptions
from api.app import create_app
from dma.bus import Bus
from dma.bus_factory import make_bus
from dma.devserver import dev_server_args, wait_for_port
from dma.settings import ApiSettings, WorkerSettings
from dma.store.engine import Database
from dma.temporal import connect_client
from tests.providers import LOCAL_KEY, LOCAL_KEY_ENV, write_providers_file
from workers.main import running_worker

T = TypeVar("T")
API_KEY = "test-key"
# The root key that seals vault secrets in test stacks (32 zero-free bytes, base64); never a production key.
SECRET_KEY = "test:" + base64.b64encode(bytes(range(1, 33))).decode()


def traversable_dir(prefix: str) -> Path:
    """A fresh data dir that sandbox uids can traverse (pytest's own temp dirs are 0700, which sandboxes refuse)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def private_data_dir(prefix: str) -> Path:
    """A data dir as a newcomer has one: ``.dma`` inside a directory only its owner may enter (a 0700 home dir).

    Remove it with ``remove_private_data_dir``.
    """
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o700)
    data_dir = home / ".dma"
    data_dir.mkdir()
    return data_dir


def remove_private_data_dir(data_dir: Path) -> None:
    """Remove a ``private_data_dir`` with its home dir (and nothing else, whatever path it is given)."""
    home = data_dir.parent
    assert data_dir.name == ".dma" and home.parent == Path(tempfile.gettempdir()), data_dir
    shutil.rmtree(home, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporalDevServer:
    """``temporal server start-dev`` on a free port and a SQLite file (restartable on the same file)."""

    def __init__(self, directory: Path, *, with_ui: bool = False) -> None:
        self.db_file = directory / "temporal.db"
        self.port = free_port()
        self.ui_port = free_port() if with_ui else None
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "temporal.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                dev_server_args(self.db_file, self.port, self.ui_port), stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port)
        if self.ui_port is not None:
            wait_for_port(self.ui_port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@dataclass
class Stack:
    """API + worker sharing one event loop, DB and bus (as ``dma dev`` runs them)."""

    database_url: str
    temporal_address: str
    model_url: str
    data_dir: Path
    api_overrides: dict[str, Any] = field(default_factory=dict[str, Any])
    worker_overrides: dict[str, Any] = field(default_factory=dict[str, Any])
    with_worker: bool = True
    # The worker's sandbox network (tests that bring their own network namespaces); None: built from its settings.
    egress: EgressOptions | None = None
    task_queue: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    db: Database | None = None
    bus: Bus | None = None
    app: FastAPI | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _ready: Future[None] = field(default_factory=Future)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def providers_file(self) -> Path:
        """The test providers file (``tests/providers.py``), written on first use."""
        path = self.data_dir / "providers.toml"
        if not path.exists():
            write_providers_file(self.data_dir, self.model_url)
        return path

    def api_settings(self) -> ApiSettings:
        return ApiSettings(
            providers_file=self.providers_file,
            api_keys=[API_KEY],
            database_url=self.database_url,
            temporal_address=self.temporal_address,
            task_queue=self.task_queue,
            data_dir=self.data_dir,
            secret_key=SECRET_KEY,  # pyright: ignore[reportArgumentType] - coerced to SecretStr
            sse_poll_seconds=2.0 if self.with_worker else None,
            **self.api_overrides,
        )

    def worker_settings(self) -> WorkerSettings:
        return WorkerSettings(
            database_url=self.database_url,
            temporal_address=self.temporal_address,
            task_queue=self.task_queue,
            data_dir=self.data_dir,
            secret_key=SECRET_KEY,  # pyright: ignore[reportArgumentType] - coerced to SecretStr
            anthropic_api_key="fake-key",  # pyright: ignore[reportArgumentType] - coerced to SecretStr
            anthropic_base_url=self.model_url,
            openai_api_key="fake-openai-key",  # pyright: ignore[reportArgumentType] - coerced to SecretStr
            openai_base_url=f"{self.model_url}/v1",
            providers_file=self.providers_file,
            **self.worker_overrides,
        )

    def worker_env(self) -> dict[str, str]:
        """Environment for a ``dma worker`` subprocess serving this stack."""
        return {
            **os.environ,
            "DMA_DATABASE_URL": self.database_url,
            "DMA_TEMPORAL_ADDRESS": self.temporal_address,
            "DMA_TASK_QUEUE": self.task_queue,
            "DMA_DATA_DIR": str(self.data_dir),
            "DMA_SECRET_KEY": SECRET_KEY,
            "ANTHROPIC_API_KEY": "fake-key",
            "ANTHROPIC_BASE_URL": self.model_url,
            "OPENAI_API_KEY": "fake-openai-key",
            "OPENAI_BASE_URL": f"{self.model_url}/v1",
            "DMA_PROVIDERS_FILE": str(self.providers_file),
            LOCAL_KEY_ENV: LOCAL_KEY,
        }

    def start(self) -> Stack:
        # The in-process worker resolves the providers file's key variable from this process's environment.
        os.environ.setdefault(LOCAL_KEY_ENV, LOCAL_KEY)
        self._thread = threading.Thread(target=self._run, name="dma-stack", daemon=True)
        self._thread.start()
        self._ready.result(timeout=60)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the stack's loop (e.g. direct DB reads in assertions)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as err:  # noqa: BLE001 - surfaced to the thread that waits for readiness
            if not self._ready.done():
                self._ready.set_exception(err)
            raise

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self.db = Database.connect(self.database_url)
        self.bus = make_bus(self.database_url, self.data_dir, listen=True)
        await self.bus.start()
        client = await connect_client(self.temporal_address, "default")
        app = self.app = create_app(self.api_settings(), db=self.db, temporal=client, bus=self.bus)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        try:
            if self.with_worker:
                async with running_worker(
                    self.worker_settings(), client=client, db=self.db, bus=self.bus, reconcile=False, egress=self.egress
                ):
                    await self._serve_until_stopped(server)
            else:
                await self._serve_until_stopped(server)
        finally:
            server.should_exit = True
            await serving
            await self.bus.close()
            await self.db.dispose()

    async def _serve_until_stopped(self, server: uvicorn.Server) -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        self._ready.set_result(None)
        assert self._stop is not None
        await self._stop.wait()
