"""``dma bench``: start dma on its embedded defaults with an instant fake model, measure, print one markdown table.

    dma bench            full run (a few minutes on 2 cores)
    dma bench --quick    short smoke run (CI runs it from tests/faults/test_bench_smoke.py)
    dma bench --json     the results as JSON (the table is under "table")
    dma bench --against URL --model-port N …   the HTTP-level blocks side by side with another server
                                               (``bench/peer.py``; ``dma bench --against x --help``)

Also runnable from the repository root as ``python -m bench``. What each figure means: README "Benchmarks".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import Api
from bench.profiling import sampled
from bench.report import markdown
from bench.scenarios import (
    BENCH_MODEL,
    Bench,
    baseline,
    breakdown,
    idle_cost,
    latency,
    long_session,
    round_trips,
    settled_history,
    throughput,
    tool_turn,
)
from bench.system import System
from dma.temporal import connect_client


@dataclass(frozen=True)
class Sizes:
    """How much each scenario does."""

    latency_turns: int
    long_turns: int
    round_trip_turns: int
    tool_turns: int
    small: tuple[int, int]
    large: tuple[int, int]
    idle_sessions: int
    idle_concurrency: int
    idle_settle: float


FULL = Sizes(30, 300, 6, 5, (20, 5), (100, 5), 10_000, 30, 10.0)
QUICK = Sizes(5, 20, 3, 1, (5, 2), (10, 2), 50, 10, 1.0)


def _public(value: Any) -> Any:
    """Drop the raw material (timings, records, histories) that only feeds other figures."""
    if isinstance(value, dict):
        hidden = {"timings", "records", "history", "session_id"}
        return {k: _public(v) for k, v in value.items() if k not in hidden}  # pyright: ignore[reportUnknownVariableType]
    return value


async def measure(system: System, sizes: Sizes, log: Any, profile: Path | None) -> dict[str, Any]:
    api = Api(system.api_url, system.api_key)
    try:
        temporal = await connect_client(system.temporal_address, "default")
        bench = Bench(system, api, temporal, await api.create_agent(BENCH_MODEL), await api.create_environment())
        results: dict[str, Any] = {}
        log("latency")
        results["latency"] = await latency(bench, sizes.latency_turns)
        log("raw-loop baseline")
        results["baseline"] = await baseline(bench, sizes.latency_turns)
        log("round trips")
        history = await settled_history(temporal, results["latency"]["session_id"])
        results["breakdown"] = breakdown([(history, results["latency"]["timings"])], results["latency"]["records"])
        results["round_trips"] = await round_trips(bench, sizes.round_trip_turns)
        log(f"long session: {sizes.long_turns} turns")
        results["long_session"] = await long_session(bench, sizes.long_turns, min(20, sizes.long_turns // 4))
        log("tool turn (bwrap)")
        results["tool_turn_bwrap"] = await tool_turn(bench, sizes.tool_turns, "bwrap")
        for key, (sessions, turns) in (("throughput_small", sizes.small), ("throughput_large", sizes.large)):
            log(f"throughput {sessions} × {turns}")
            offset = system.log_offset()
            with sampled(system.dma_pid, profile if key == "throughput_large" else None):
                results[key] = await throughput(bench, sessions, turns)
            results[key]["log_signs"] = system.log_signs(offset)
        log(f"idle cost: {sizes.idle_sessions} sessions")
        offset = system.log_offset()
        results["idle_cost"] = await idle_cost(bench, sizes.idle_sessions, sizes.idle_concurrency, sizes.idle_settle)
        results["idle_cost"]["log_signs"] = system.log_signs(offset)
        return results
    finally:
        await api.close()


async def measure_docker_tool(data_dir: Path, sizes: Sizes, log: Any) -> dict[str, Any]:
    """The tool turn on the docker backend: a second ``dma dev`` with ``DMA_SANDBOX_BACKEND=docker``."""
    probe = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False)
    if not probe or probe.returncode != 0:
        return {"available": False, "backend": "docker", "reason": "no docker engine on this machine"}
    log("tool turn (docker)")
    system = System(data_dir, extra_env={"DMA_SANDBOX_BACKEND": "docker"})
    try:
        system.start()
        api = Api(system.api_url, system.api_key)
        try:
            temporal = await connect_client(system.temporal_address, "default")
            bench = Bench(system, api, temporal, await api.create_agent(BENCH_MODEL), await api.create_environment())
            return await tool_turn(bench, sizes.tool_turns, "docker")
        finally:
            await api.close()
    finally:
        system.stop()


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if any(a == "--against" or a.startswith("--against=") for a in arguments):
        from bench.peer import main as against

        return against(arguments)
    parser = argparse.ArgumentParser(prog="dma bench", description="Measure dma on its embedded defaults.")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (well under a minute)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--idle-sessions", type=int, default=None, help="sessions of the idle-cost row")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy folded stacks of the large throughput run")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs, SQLite, Temporal DB)")
    args = parser.parse_args(arguments)
    sizes = QUICK if args.quick else FULL
    if args.idle_sessions is not None:
        sizes = Sizes(**{**sizes.__dict__, "idle_sessions": args.idle_sessions})
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews every figure

    def log(step: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {step}", file=sys.stderr, flush=True)

    data_dir = Path(tempfile.mkdtemp(prefix="dma-bench-"))
    data_dir.chmod(0o711)  # bwrap sandboxes run as their own uids and must traverse it
    system = System(data_dir / "bwrap", extra_env={"DMA_SANDBOX_BACKEND": "bwrap"})
    try:
        log(f"starting dma dev in {system.data_dir}")
        system.start()
        results = asyncio.run(measure(system, sizes, log, args.profile))
        system.stop()
        results["tool_turn_docker"] = asyncio.run(measure_docker_tool(data_dir / "docker", sizes, log))
    finally:
        system.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            log(f"kept {data_dir}")
    results["mode"] = "quick" if args.quick else "full"
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    table = markdown(results)
    if args.json:
        print(json.dumps(_public(results) | {"table": table}, indent=2))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
