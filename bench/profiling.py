"""``--profile``: sample dma (its API process and its worker) with py-spy during a block (folded stacks)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def sampled(pid: int, output: Path | None) -> Generator[None, None, None]:
    """Record ``pid`` and its Python children (``dma dev``'s worker) with py-spy while the block runs.

    Needs ptrace rights; a no-op without ``output``.
    """
    binary = py_spy() if output is not None else None
    if output is not None and binary is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    if binary is None or output is None:
        yield
        return
    args = [binary, "record", "--pid", str(pid), "--format", "raw", "--nolineno", "--nonblocking", "--rate", "250"]
    args.append("--subprocesses")
    recorder = subprocess.Popen([*args, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes the file when interrupted
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
