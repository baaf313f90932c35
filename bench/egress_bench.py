"""Egress proxy latency and the cold start of a sandbox with networking, per backend, against the test internet.

Run as root from the repository root: ``.venv/bin/python -m bench.egress_bench [--runs N] [--backends bwrap docker]``.
It builds the tests' private internet (a network namespace with one HTTP/HTTPS host, ``tests/netlab``), times the
same client on the host (direct) and inside a sandbox (through its proxy), every request on a new connection, and
prints one markdown table. The sandbox's credential covers ``internet.test`` only, so HTTPS to it is intercepted and
substituted while HTTPS to ``other.test`` (the same host) is tunnelled untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from activities.sandboxes import SandboxManager
from activities.sandboxes.egress import EgressOptions, EgressService, SandboxNetwork, SessionSecret, new_placeholder
from tests.netlab.lab import LabInternet, start_internet
from tests.stack import private_data_dir, remove_private_data_dir
from workflows.contracts import SandboxSpec

CLIENT = Path(__file__).with_name("egress_client.py")
KINDS = {
    "http": "HTTP GET",
    "https_tunnel": "HTTPS GET, tunnelled untouched",
    "https_substituted": "HTTPS GET, intercepted + header substituted",
    "https_kept_alive": "HTTPS GET on a kept-alive connection, intercepted + substituted",
}


class Secrets:
    def __init__(self) -> None:
        self.by_session: dict[str, list[SessionSecret]] = {}

    async def secrets_for(self, session_id: str) -> Sequence[SessionSecret]:
        return self.by_session.get(session_id, [])

    async def current(self, session_id: str, secrets: Sequence[SessionSecret]) -> Sequence[SessionSecret]:
        del session_id
        return secrets


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _cell(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{_ms(samples):.2f} ms (p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.2f})"


def _direct(internet: LabInternet, runs: int) -> dict[str, list[float]]:
    argv = [sys.executable, "-I", str(CLIENT), "direct", str(runs), internet.host_ip, str(internet.pki.ca_file)]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def _timed_attach(attaches: list[float]) -> None:
    original = SandboxNetwork.attach

    async def attach(self: SandboxNetwork, pidfd: int, namespaces: int) -> None:
        began = time.perf_counter()
        await original(self, pidfd, namespaces)
        attaches.append(time.perf_counter() - began)

    SandboxNetwork.attach = attach  # type: ignore[method-assign]


async def _cold(manager: SandboxManager, secrets: Secrets, runs: int, with_secret: bool) -> list[float]:
    samples: list[float] = []
    for _ in range(runs):
        session = f"sesn_bench{uuid.uuid4().hex[:10]}"
        if with_secret:
            secrets.by_session[session] = [SessionSecret("BENCH_TOKEN", new_placeholder("T"), "v", ("internet.test",))]
        began = time.perf_counter()
        await manager.ensure(SandboxSpec(session_id=session))
        samples.append(time.perf_counter() - began)
        await manager.destroy(session)
    return samples


async def _through_proxy(manager: SandboxManager, secrets: Secrets, internet: LabInternet, runs: int) -> Any:
    session = f"sesn_bench{uuid.uuid4().hex[:10]}"
    secret = SessionSecret("BENCH_TOKEN", new_placeholder("BENCH_TOKEN"), "real-token", ("internet.test",))
    secrets.by_session[session] = [secret]
    sandbox = await manager.ensure(SandboxSpec(session_id=session))
    workspace = manager.workspace(session)
    (workspace / "client.py").write_text(CLIENT.read_text())
    (workspace / "test-ca.pem").write_text(internet.pki.ca_file.read_text())
    command = "cat /etc/dma-egress/ca-bundle.pem test-ca.pem > all.pem && python3 client.py proxy {} - all.pem"
    result = await sandbox.exec_shell(command.format(runs), 600)
    await manager.destroy(session)
    assert result.exit_code == 0, result.text()
    return json.loads(result.text().strip().splitlines()[-1])


async def _backend(backend: str, internet: LabInternet, runs: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    data_dir = private_data_dir(f"dma-bench-{backend}-")
    secrets = Secrets()
    egress = EgressService(EgressOptions(upstream=internet.upstream(), credentials=secrets))
    manager = SandboxManager(data_dir, backend, egress=egress)  # pyright: ignore[reportArgumentType]
    attaches: list[float] = []
    try:
        await _cold(manager, secrets, 1, False)  # image and caches warm
        _timed_attach(attaches)
        cold_runs = max(5, runs // 10)
        cold = {"plain": await _cold(manager, secrets, cold_runs, False)}
        cold["secret"] = await _cold(manager, secrets, cold_runs, True)
        cold["attach"] = list(attaches)
        return cold, await _through_proxy(manager, secrets, internet, runs)
    finally:
        await manager.close()
        remove_private_data_dir(data_dir)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="requests per kind (cold starts: runs / 10, at least 5)")
    parser.add_argument("--backends", nargs="+", default=["bwrap", "docker"])
    args = parser.parse_args()
    internet = start_internet()
    try:
        direct = _direct(internet, args.runs)
        rows: list[str] = []
        for backend in args.backends:
            cold, proxied = await _backend(backend, internet, args.runs)
            for kind, label in KINDS.items():
                added = _ms(proxied[kind]) - _ms(direct[kind])
                rows.append(
                    f"| {backend} | {label} | {_cell(direct[kind])} | {_cell(proxied[kind])} | +{added:.2f} ms |"
                )
            rows.append(f"| {backend} | cold start with networking | | {_cell(cold['plain'])} | |")
            rows.append(f"| {backend} | cold start with a credential (session CA) | | {_cell(cold['secret'])} | |")
            rows.append(f"| {backend} | of which: proxy listener into the sandbox | | {_cell(cold['attach'])} | |")
    finally:
        internet.stop()
    print(f"| backend | what (median of {args.runs} requests) | direct from the host | through the proxy | added |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


run: Callable[[], Awaitable[None]] = main

if __name__ == "__main__":
    asyncio.run(main())
