"""Canary secrets for the leak tests: planted in the worker's environment and data dir, then searched for inside."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET_VARIABLES = ("DMA_API_KEYS", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "DMA_ANTHROPIC_API_KEY", "DMA_SECRET_KEY")
CANARY_FILES = ("secrets.env", "dma-canary.db")
# Every process's environment and command line, the shell's own environment, and every readable file. Bait files
# prove that grep reads the writable places; /usr is the host's (bwrap) or the image's (docker) read-only /usr, where
# nothing of the worker's is ever written, and grepping its gigabytes would take half a minute.
BAIT_FILES = ("/dev/shm/bait.txt", "/tmp/bait.txt", "/workspace/bait.txt")
PROBE = r"""
echo "== env"; env
for f in /proc/[0-9]*/environ; do echo "== $f"; tr '\0' '\n' < "$f"; echo; done
for f in /proc/[0-9]*/cmdline; do echo "== $f"; tr '\0' ' ' < "$f"; echo; done
for f in {bait_files}; do echo "bait-{tag}" > "$f"; done
echo "== grep"
grep -rsl -D skip --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr -e '{pattern}' -e 'bait-{tag}' / | sort
echo "== grep done"
"""


@dataclass(frozen=True)
class Canaries:
    """Fresh secret-looking values sharing one prefix; the probe finds them with grep without containing them."""

    tag: str

    @property
    def prefix(self) -> str:
        return f"canary-{self.tag}"

    def value(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def probe(self) -> str:
        """A shell script that prints everything a sandbox could learn about the worker (see ``PROBE``)."""
        filled = PROBE.replace("{pattern}", f"canar[y]-{self.tag}").replace("{tag}", self.tag)
        return filled.replace("{bait_files}", " ".join(BAIT_FILES))

    def assert_absent(self, text: str) -> None:
        at = text.find(self.prefix)
        assert at < 0, f"a canary leaked: …{text[max(0, at - 300) : at + 300]}…"

    def check_probe_output(self, text: str) -> None:
        """No canary in the probe's output, and the probe really read what it looks at."""
        self.assert_absent(text)
        assert "== /proc/1/environ\n" in text and "== /proc/1/cmdline\n" in text, text[:3000]
        init_environment = text.split("== /proc/1/environ\n", 1)[1].split("\n== ", 1)[0]
        assert "PATH=" in init_environment, text[:3000]
        found = text.split("== grep\n", 1)[1].split("== grep done", 1)[0].split()
        assert found == list(BAIT_FILES), f"grep found other files than the bait: {found}"


def plant(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Canaries:
    """Put canaries into the worker's environment (this test process is the worker) and into its data dir."""
    canaries = Canaries(uuid.uuid4().hex)
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, canaries.value(name))
    for name in CANARY_FILES:
        (data_dir / name).write_text(f"SECRET={canaries.value(name)}\n")
    return canaries


def remove(data_dir: Path) -> None:
    for name in CANARY_FILES:
        (data_dir / name).unlink(missing_ok=True)
