"""Running dma processes (``dma worker``, ``dma api``) as real subprocesses, to kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dma.devserver import wait_for_port


class DmaProcess:
    """A ``python -m dma.cli <command>`` child with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_port: int | None = None) -> DmaProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dma.cli", *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        if wait_port is not None:
            process = self.process
            try:
                # A loaded CI machine imports slowly; a process that exits fails at once, with its log.
                wait_for_port(wait_port, timeout=90, alive=lambda: process.poll() is None)
            except (RuntimeError, TimeoutError) as err:
                raise RuntimeError(f"{err}; {self.log} ends with:\n{self.log.read_text()[-2000:]}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
