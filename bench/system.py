"""The system under test: ``dma dev`` (the API, its worker and its Temporal dev server as children, SQLite in a
temporary data dir) and the benchmark's fake model, each a subprocess on free loopback ports.

Running the real ``dma dev`` command rather than an in-process harness measures exactly what users run, and keeps the
driver's own CPU (clients, bookkeeping) out of the per-process figures.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from dma.devserver import wait_for_port

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 20.0
START_ATTEMPTS = 3
# Lines of dma's log worth counting during a measurement: each is work thrown away or a request that failed.
LOG_SIGNS = {
    "activity_cancelled": "CancelledError: Activity cancelled",
    "activity_failed": "Completing activity as failed",
    "pool_timeout": "QueuePool limit of size",
    "api_500": "ERROR api.errors: unhandled error",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class System:
    """Starts and stops the processes; exposes their pids and addresses."""

    data_dir: Path
    api_port: int = field(default_factory=free_port)
    temporal_port: int = field(default_factory=free_port)
    model_port: int = field(default_factory=free_port)
    dev: subprocess.Popen[bytes] | None = None
    model: subprocess.Popen[bytes] | None = None
    api_key: str = field(default_factory=lambda: "bench-" + os.urandom(12).hex())
    extra_env: dict[str, str] = field(default_factory=dict[str, str])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def start(self) -> System:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> System:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o711)  # sandbox uids must traverse it to reach their workspaces
        # ``dma dev`` keeps its key in the data dir and reuses one it finds there.
        (self.data_dir / "dev-api-key").write_text(self.api_key + "\n")
        self.model = self._spawn(["-m", "bench.fake_model", "--port", str(self.model_port)], "model.log")
        wait_for_port(self.model_port, timeout=30)
        for attempt in range(1, START_ATTEMPTS + 1):
            dev_args = ["-m", "dma.cli", "dev", "--host", "127.0.0.1", "--port", str(self.api_port)]
            dev_args += ["--temporal-port", str(self.temporal_port), "--ui-port", "0"]
            self.dev = self._spawn(dev_args, "dev.log")
            if self._wait_for_api():
                return self
            # ``dma dev`` exits when its Temporal server listens but is not healthy yet ("Frontend is not healthy
            # yet" from the client connect); that is a start-up race in dma dev, not something to measure.
            self.api_port, self.temporal_port = free_port(), free_port()
            if attempt == START_ATTEMPTS:
                raise RuntimeError(f"dma dev did not start; see {self.data_dir / 'dev.log'}")
        return self

    def _wait_for_api(self) -> bool:
        assert self.dev is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.dev.poll() is not None:
                return False
            try:
                wait_for_port(self.api_port, timeout=0.5)
            except TimeoutError:
                continue
            return True
        self.dev.kill()
        return False

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DMA_DATA_DIR": str(self.data_dir),
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": self.model_url,
            **self.extra_env,
        }
        env.pop("DMA_DATABASE_URL", None)  # the embedded default: SQLite in the data dir
        with (self.data_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, *args], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def dev_log(self) -> Path:
        return self.data_dir / "dev.log"

    def log_offset(self) -> int:
        """Where dma's log ends now (pass it to ``log_signs``)."""
        return self.dev_log.stat().st_size if self.dev_log.exists() else 0

    def log_signs(self, since: int) -> dict[str, int]:
        """How often each of ``LOG_SIGNS`` appeared in dma's log after ``since``."""
        with self.dev_log.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return {name: text.count(sign) for name, sign in LOG_SIGNS.items()}

    @property
    def dma_pid(self) -> int:
        assert self.dev is not None
        return self.dev.pid

    @property
    def worker_pid(self) -> int:
        """``dma dev``'s worker process (``workers.dev_worker``)."""
        for child in psutil.Process(self.dma_pid).children(recursive=True):
            if "workers.dev_worker" in " ".join(child.cmdline()):
                return child.pid
        raise RuntimeError("dma dev has no worker child")

    @property
    def temporal_pid(self) -> int:
        for child in psutil.Process(self.dma_pid).children(recursive=True):
            if "temporal" in child.name():
                return child.pid
        raise RuntimeError("dma dev has no Temporal server child")

    def stop(self) -> None:
        children: list[psutil.Process] = []
        if self.dev is not None and self.dev.poll() is None:
            children = psutil.Process(self.dev.pid).children(recursive=True)
            self.dev.send_signal(signal.SIGINT)  # what Ctrl-C does: dma dev stops its worker, API and Temporal
            _wait_or_kill(self.dev)
        for child in children:
            if child.is_running():
                child.kill()
        if self.model is not None and self.model.poll() is None:
            self.model.terminate()
            _wait_or_kill(self.model)


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
