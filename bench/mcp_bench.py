"""MCP call latency: the same tool called directly with the ``mcp`` client, and through a dma session.

Runs ``dma dev`` (bench.system, scripted model) and a one-tool MCP server (bench.mcp_server) on loopback:

    .venv/bin/python -m bench.mcp_bench [--runs 30]

Rows:
- direct, new connection: ``mcp.Client`` connects (streamable HTTP, bearer header) and calls ``echo``, per call;
  that is what dma does for every call (nothing is pinned to a worker between calls).
- direct, one connection: the same calls over one open client, for scale.
- through dma: from ``agent.mcp_tool_use`` to ``agent.mcp_tool_result`` (their ``processed_at``, written by the
  worker): the workflow task that starts the activity, the activity finding the call and the session's credential
  in the DB and opening it, the MCP call itself, writing the result, and the workflow task that follows.
The added latency is the dma row minus the new-connection row, quantile by quantile (median from median, p90 from
p90).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.system import REPO_ROOT, System, free_port
from dma.devserver import wait_for_port

TOKEN = "bench-" + os.urandom(8).hex()


def _stamp(event: Any) -> float:
    at: datetime = event.processed_at
    return at.timestamp()


def _client(http: httpx2.AsyncClient, url: str) -> Client:
    return Client(streamable_http_client(url, http_client=http))


async def _direct(url: str, runs: int, reuse: bool) -> list[float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    samples: list[float] = []
    if reuse:
        async with httpx2.AsyncClient(headers=headers) as http, _client(http, url) as client:
            for _ in range(runs):
                started = time.perf_counter()
                await client.call_tool("echo", {"text": "hi"})
                samples.append(time.perf_counter() - started)
        return samples
    for _ in range(runs):
        started = time.perf_counter()
        async with httpx2.AsyncClient(headers=headers) as http, _client(http, url) as client:
            await client.call_tool("echo", {"text": "hi"})
        samples.append(time.perf_counter() - started)
    return samples


def _through_dma(client: anthropic.Anthropic, session_id: str, turn: int) -> float:
    call = '[[tool:mcp__bench__echo {"text": "hi"}]]'
    message: Any = {"type": "user.message", "content": [{"type": "text", "text": call}]}
    client.beta.sessions.events.send(session_id, events=[message])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = list(client.beta.sessions.events.list(session_id))
        uses = [e for e in events if e.type == "agent.mcp_tool_use"]
        results = [e for e in events if e.type == "agent.mcp_tool_result"]
        idles = [e for e in events if e.type == "session.status_idle"]
        if len(results) > turn and len(idles) > turn:
            if results[turn].is_error:
                raise RuntimeError(f"the MCP call failed: {results[turn].content}")
            return _stamp(results[turn]) - _stamp(uses[turn])
        time.sleep(0.05)
    raise RuntimeError("the turn did not finish")


def _start_mcp_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with (data_dir / "mcp.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.mcp_server", "--port", str(port), "--token", TOKEN],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, timeout=30)
    return process, f"http://127.0.0.1:{port}/mcp"


def _session(client: anthropic.Anthropic, url: str) -> str:
    vault = client.beta.vaults.create(display_name="bench")
    auth: Any = {"type": "static_bearer", "token": TOKEN, "mcp_server_url": url}
    client.beta.vaults.credentials.create(vault.id, auth=auth)
    allow: Any = {"permission_policy": {"type": "always_allow"}}
    agent = client.beta.agents.create(
        name="mcp-bench",
        model="scripted",
        mcp_servers=[{"type": "url", "name": "bench", "url": url}],
        tools=[{"type": "mcp_toolset", "mcp_server_name": "bench", "default_config": allow}],
    )
    environment = client.beta.environments.create(name="mcp-bench")
    return client.beta.sessions.create(agent=agent.id, environment_id=environment.id, vault_ids=[vault.id]).id


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"| {name} | {statistics.median(ordered) * 1000:.1f} ms | {p90 * 1000:.1f} ms | {len(ordered)} |"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="dma-mcp-bench-"))
    data_dir.chmod(0o711)
    server, url = _start_mcp_server(data_dir)
    system = System(data_dir)
    try:
        system.start()
        client = anthropic.Anthropic(api_key=system.api_key, base_url=system.api_url, max_retries=0)
        session_id = _session(client, url)
        _through_dma(client, session_id, 0)  # warm-up: lists the tools once, warms the worker
        dma = [_through_dma(client, session_id, turn) for turn in range(1, args.runs + 1)]
        asyncio.run(_direct(url, 3, reuse=False))
        direct = asyncio.run(_direct(url, args.runs, reuse=False))
        reused = asyncio.run(_direct(url, args.runs, reuse=True))
    finally:
        system.stop()
        server.terminate()
        server.wait(timeout=10)
    added = [through - alone for through, alone in zip(sorted(dma), sorted(direct), strict=False)]
    print("| MCP call (`echo`, loopback) | median | p90 | runs |")
    print("|---|---|---|---|")
    print(_row("direct, `mcp` client, new connection per call", direct))
    print(_row("direct, `mcp` client, one open connection", reused))
    print(_row("through dma: `agent.mcp_tool_use` → `agent.mcp_tool_result`", dma))
    print(_row("added by dma (through dma − direct new connection)", added))
    load = os.getloadavg()[0]
    print(f"\nload average {load:.2f} on {os.cpu_count()} cores; host {socket.gethostname()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
