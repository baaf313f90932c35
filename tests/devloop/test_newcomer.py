"""The first ten minutes, as a newcomer lives them: ``scripts/dev`` on a fresh copy of the tree.

The copy has no ``.venv``, so ``scripts/dev`` creates one with only what running dma needs (showing progress), then:
on taken ports it names the port and the setting that moves it and starts nothing; on free ports it starts, the
README's example prints the agent's reply, and Ctrl-C (SIGINT to the foreground process group, as a terminal sends
it) prints ``stopped`` and leaves no process behind. Every port is a free one picked here, and the data dir is the
copy's own, so nothing else on the machine is disturbed.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
README_EXAMPLE = re.compile(r"```python\n(import anthropic\n.*?)```", re.S)


def copy_tree(target: Path) -> Path:
    """What a fresh clone holds: the tracked and new, not ignored files (no .venv, no node_modules)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def newcomer_env(data_dir: Path, **ports: int) -> dict[str, str]:
    """A shell's environment without this test run's settings or venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DMA_", "ANTHROPIC_", "PYTEST", "VIRTUAL_ENV")) and key != "PYTHONPATH"
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p + "/")
    env["DMA_DATA_DIR"] = str(data_dir)
    env.update({name: str(value) for name, value in ports.items()})
    return env


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


class Lines:
    """A child's merged output, read line by line in the background."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen))

    def rest(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
        return self.seen


def readme_example(key: str, port: int) -> str:
    found = README_EXAMPLE.search((ROOT / "README.md").read_text())
    assert found, "README.md has no python example starting with `import anthropic`"
    code = found.group(1)
    assert '"<printed key>"' in code and "http://127.0.0.1:8787" in code
    return code.replace("<printed key>", key).replace("http://127.0.0.1:8787", f"http://127.0.0.1:{port}")


@pytest.mark.timeout(900)
def test_scripts_dev_from_a_fresh_tree(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "dma")
    data_dir = tmp_path / "data"
    dev = [str(tree / "scripts" / "dev")]

    with taken_port() as taken:
        temporal_port, ui_port = free_port(), free_port()
        env = newcomer_env(data_dir, DMA_PORT=taken, DMA_TEMPORAL_PORT=temporal_port, DMA_TEMPORAL_UI_PORT=ui_port)
        first = subprocess.run(dev, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "installing dma and what it needs to run" in first.stderr and "    Collecting " in first.stderr
    assert f"port {taken} (the dma API) is already in use" in first.stderr and "DMA_PORT=" in first.stderr
    assert "dma dev started nothing" in first.stderr and "dma dev is running" not in first.stdout
    assert not data_dir.exists(), "nothing may start (or be written) when a port is taken"
    assert port_is_free(temporal_port) and port_is_free(ui_port)
    assert (tree / ".venv" / "bin" / "dma").exists() and not (tree / ".venv" / "bin" / "pytest").exists()

    with taken_port() as taken:
        env = newcomer_env(data_dir, DMA_PORT=free_port(), DMA_TEMPORAL_PORT=taken, DMA_TEMPORAL_UI_PORT=ui_port)
        second = subprocess.run(dev, cwd=tree, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "installing" not in second.stderr, second.stderr
    assert f"port {taken} (the Temporal dev server) is already in use" in second.stderr
    assert "DMA_TEMPORAL_PORT=" in second.stderr and not data_dir.exists()

    api_port = free_port()
    env = newcomer_env(data_dir, DMA_PORT=api_port, DMA_TEMPORAL_PORT=temporal_port, DMA_TEMPORAL_UI_PORT=ui_port)
    process = subprocess.Popen(
        dev, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines = Lines(process)
    family: list[psutil.Process] = []
    try:
        lines.until(r"^dma dev is running$", timeout=120)
        key = lines.until(r"^  API key ", timeout=5).split()[2]
        lines.until(r"Temporal server: .*temporal\.log", timeout=5)
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        assert any("temporal" in member.name() for member in family)

        example = tmp_path / "hello.py"
        example.write_text(readme_example(key, api_port))
        reply = subprocess.run(
            [str(tree / ".venv" / "bin" / "python"), str(example)], capture_output=True, text=True, timeout=60
        )
        assert reply.returncode == 0, reply.stderr
        assert reply.stdout.strip() == "You said: hi"
        turn_line = lines.until(r"turn 1 ended", timeout=10)
        assert "INFO temporalio.workflow" in turn_line

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = lines.rest(timeout=2)
    assert output[-1] == "stopped", "\n".join(output)
    quiet = [line for line in output if re.match(r"\d{4}-\d\d-\d\d ", line) and "turn 1 ended" not in line]
    assert quiet == [], "the default log level shows warnings and one line per turn only"
    assert "\x1b[" not in "\n".join(output)
    time.sleep(0.5)
    left = [member for member in family if member.is_running() and member.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes left behind: {left}"
    assert all(port_is_free(port) for port in (api_port, temporal_port, ui_port))
