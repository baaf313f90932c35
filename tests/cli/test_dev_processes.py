"""``dma dev``'s worker is a process of its own: ready before the banner, gone with ``dma dev``, fatal when it dies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dma.devserver import wait_for_port
from tests.stack import free_port, traversable_dir


def _dev(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMA_")}
    env.update({"DMA_DATA_DIR": str(data_dir), "ANTHROPIC_API_KEY": "x", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"})
    args = ["dev", "--port", str(port), "--temporal-port", str(free_port()), "--ui-port", "0"]
    return subprocess.Popen(
        [sys.executable, "-m", "dma.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _worker_of(dev: subprocess.Popen[str]) -> psutil.Process:
    workers = [
        child
        for child in psutil.Process(dev.pid).children(recursive=True)
        if "workers.dev_worker" in " ".join(child.cmdline())
    ]
    assert len(workers) == 1, workers
    return workers[0]


def _gone(process: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def running_dev() -> Iterator[subprocess.Popen[str]]:
    data_dir = traversable_dir("dma-dev-processes-")
    port = free_port()
    dev = _dev(data_dir, port)
    try:
        wait_for_port(port, timeout=120, alive=lambda: dev.poll() is None)
        yield dev
    finally:
        with_children = []
        if dev.poll() is None:
            with_children = psutil.Process(dev.pid).children(recursive=True)
            os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=30)
        for child in with_children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def test_the_worker_polls_before_the_api_listens_and_dies_with_dev(running_dev: subprocess.Popen[str]) -> None:
    worker = _worker_of(running_dev)  # the API listens only once the worker polls (workers.dev._wait_polling)
    temporal = [c for c in psutil.Process(running_dev.pid).children() if "temporal" in c.name()]
    assert temporal and worker.ppid() == running_dev.pid
    os.kill(running_dev.pid, signal.SIGKILL)  # no cleanup: only the children's parent-death signal stops them
    running_dev.wait(timeout=10)
    assert _gone(worker, timeout=15), "the worker outlived a killed dma dev"
    assert _gone(temporal[0], timeout=15), "the Temporal server outlived a killed dma dev"


def test_a_worker_that_dies_stops_dev_with_a_message(running_dev: subprocess.Popen[str]) -> None:
    worker = _worker_of(running_dev)
    worker.kill()
    assert running_dev.wait(timeout=60) != 0
    assert running_dev.stdout is not None
    output = running_dev.stdout.read()
    assert "the worker exited" in output and "dma dev stopped everything it had started" in output, output
