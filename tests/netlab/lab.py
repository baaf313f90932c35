"""The test internet: a network namespace with one host (``internet_host.py``) behind a veth pair, and the upstream
that lets the egress proxy reach it.

The host sits at a private address (the veth's), which the proxy always refuses. ``LabUpstream`` maps the test names
onto it and vouches for that one mapping (``Resolved.exempt``), as only a test upstream can; the host's address as a
literal, and every other private or loopback address, stay refused, which is what the escape tests prove.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandboxes.egress import Resolved, ResolveError
from activities.sandboxes.egress.addresses import parse_ip
from activities.sandboxes.egress.upstream import client_context
from dma.hosts import matches
from tests.netlab import content
from tests.netlab.pki import Pki, make_pki

HOST_SCRIPT = Path(__file__).with_name("internet_host.py")
NAMES = ("internet.test", "*.internet.test", "other.test")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _free_subnet() -> int:
    used = subprocess.run(["ip", "-4", "-o", "addr"], check=True, capture_output=True, text=True).stdout
    for _ in range(100):
        third = secrets.randbelow(250) + 1
        if f"10.231.{third}." not in used:
            return third
    raise RuntimeError("no free 10.231.x.0/30 for the test internet")


@dataclass
class LabUpstream:
    """Resolves the test names: the test host (vouched for) and a few names that point where no sandbox may go."""

    host_ip: str
    gateway_ip: str
    ca_file: Path
    resolved: list[str] = field(default_factory=list[str])

    def table(self) -> dict[str, tuple[str, bool]]:
        return {
            "loopback.test": ("127.0.0.1", False),
            "localhost": ("127.0.0.1", False),
            "metadata.test": ("169.254.169.254", False),
            "private.test": (self.gateway_ip, False),
        }

    async def resolve(self, host: str, port: int) -> list[Resolved]:
        del port
        self.resolved.append(host)
        if any(matches(pattern, host) for pattern in NAMES):
            return [Resolved(parse_ip(self.host_ip), exempt=True)]  # pyright: ignore[reportArgumentType]
        if host in self.table():
            ip, exempt = self.table()[host]
            return [Resolved(parse_ip(ip), exempt=exempt)]  # pyright: ignore[reportArgumentType]
        raise ResolveError(f"{host} is not a name of the test internet")

    def tls_context(self) -> ssl.SSLContext:
        return client_context(str(self.ca_file))


@dataclass
class LabInternet:
    """A running test internet; ``stop`` removes the namespace, the veth pair and the host process."""

    namespace: str
    veth: str
    host_ip: str
    gateway_ip: str
    directory: Path
    pki: Pki
    process: subprocess.Popen[bytes]
    log: Path

    def upstream(self) -> LabUpstream:
        return LabUpstream(self.host_ip, self.gateway_ip, self.pki.ca_file)

    def entries(self) -> list[dict[str, object]]:
        """Everything the host has received so far (requests and UDP datagrams)."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def mark(self) -> int:
        """How many entries there are now (to look at later ones only)."""
        return len(self.entries())

    def since(self, mark: int) -> list[dict[str, object]]:
        return self.entries()[mark:]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_internet() -> LabInternet:
    """Create the namespace, the veth pair and the host with its content; wait until it serves."""
    tag = secrets.token_hex(3)
    namespace, veth, peer = f"dma-inet-{tag}", f"dmai{tag}a", f"dmai{tag}b"
    third = _free_subnet()
    gateway_ip, host_ip = f"10.231.{third}.1", f"10.231.{third}.2"
    directory = Path(tempfile.mkdtemp(prefix="dma-inet-"))
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", namespace)
        _ip("addr", "add", f"{gateway_ip}/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("-n", namespace, "addr", "add", f"{host_ip}/30", "dev", peer)
        _ip("-n", namespace, "link", "set", peer, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        return _serve(namespace, veth, host_ip, gateway_ip, directory)
    except BaseException:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _serve(namespace: str, veth: str, host_ip: str, gateway_ip: str, directory: Path) -> LabInternet:
    pki = make_pki(directory, ["internet.test", "*.internet.test", "other.test"], [host_ip])
    packages, git = directory / "packages", directory / "git"
    packages.mkdir()
    git.mkdir()
    content.build_wheel(packages)
    content.build_wheel(packages, content.OTHER_PACKAGE)
    content.build_git_repo(git)
    log, ready = directory / "requests.jsonl", directory / "ready"
    config = {"log": str(log), "packages": str(packages), "git": str(git), "ready": str(ready)}
    config |= {"cert": str(pki.cert_file), "key": str(pki.key_file)}
    (directory / "config.json").write_text(json.dumps(config))
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-I", str(HOST_SCRIPT), str(directory / "config.json")]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(directory / "host.err", "wb"))  # noqa: SIM115
    internet = LabInternet(namespace, veth, host_ip, gateway_ip, directory, pki, process, log)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            error = (directory / "host.err").read_text()
            internet.stop()
            raise RuntimeError(f"the test internet's host did not start: {error}")
        time.sleep(0.05)
    return internet
