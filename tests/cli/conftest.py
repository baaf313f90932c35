"""Running the ``dma`` command against a test stack: as a subprocess, or in a pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.stack import API_KEY, Stack


def cli_env(stack: Stack, data_dir: Path) -> dict[str, str]:
    """The environment a person's shell would have: the server's URL and a key, as the SDK reads it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DMA_")}
    env.update({"DMA_URL": stack.base_url, "ANTHROPIC_API_KEY": API_KEY, "DMA_DATA_DIR": str(data_dir)})
    return env


class Cli:
    """``dma …`` for one stack."""

    def __init__(self, stack: Stack, data_dir: Path) -> None:
        self.env = cli_env(stack, data_dir)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "dma.cli", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def spawn(self, *args: str, timeout: float = 30) -> pexpect.spawn:
        """The command in a pseudo-terminal, as a person runs it (colours and all)."""
        child = pexpect.spawn(
            sys.executable,
            ["-m", "dma.cli", *args],
            env=self.env,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(50, 160),
            preexec_fn=_as_a_terminal_job,
        )
        return child


def _as_a_terminal_job() -> None:
    """Ctrl-C works as in a terminal's foreground job, even when the suite runs in the background (a shell without
    job control starts background commands with SIGINT ignored, and the child would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Iterator[Cli]:
    yield Cli(stack, tmp_path)
