"""Sandbox latency: cold start and a warm ``bash echo hi`` tool call per backend, against a plain subprocess.

Run: ``.venv/bin/python bench/sandbox_bench.py [--runs N] [--backends bwrap docker]``. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from activities.sandboxes import SandboxManager
from activities.tools.runner import ToolRunner
from workflows.contracts import SandboxSpec


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms (p90 {sorted(samples)[int(len(samples) * 0.9) - 1] * 1000:.1f})"


async def _baseline(runs: int) -> list[float]:
    samples: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec("bash", "-c", "echo hi", stdout=asyncio.subprocess.PIPE)
        await proc.communicate()
        samples.append(time.perf_counter() - began)
    return samples


async def _backend(backend: str, cold_runs: int, warm_runs: int) -> tuple[list[float], list[float], list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="dma-bench-"))
    data_dir.chmod(0o711)
    manager = SandboxManager(data_dir, backend)  # pyright: ignore[reportArgumentType]
    runner = ToolRunner(manager)
    cold: list[float] = []
    try:
        for _ in range(cold_runs):
            spec = SandboxSpec(session_id=f"sesn_bench{uuid.uuid4().hex[:8]}", networking="limited")
            began = time.perf_counter()
            await manager.ensure(spec)
            cold.append(time.perf_counter() - began)
            await manager.destroy(spec.session_id)
        spec = SandboxSpec(session_id="sesn_benchwarm", networking="limited")
        await manager.ensure(spec)
        warm: list[float] = []
        for _ in range(warm_runs):
            began = time.perf_counter()
            outcome = await runner.run("bash", {"command": "echo hi"}, {}, spec)
            warm.append(time.perf_counter() - began)
            assert outcome.text_for_model == "hi", outcome
        files: list[float] = []
        await runner.run("write", {"file_path": "bench.txt", "content": "line\n" * 100}, {}, spec)
        for _ in range(warm_runs):
            began = time.perf_counter()
            await runner.run("read", {"file_path": "bench.txt"}, {}, spec)
            files.append(time.perf_counter() - began)
        await manager.destroy(spec.session_id)
    finally:
        await manager.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return cold, warm, files


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="warm calls per measurement (cold starts: runs / 3)")
    parser.add_argument("--backends", nargs="+", default=["bwrap", "docker"])
    args = parser.parse_args()
    cold_runs = max(10, args.runs // 3)
    head = f"| backend | cold start (median of {cold_runs}) | warm `bash echo hi` (median of {args.runs}) |"
    print(f"{head} warm `read` | plain `bash -c 'echo hi'` subprocess |")
    print("|---|---|---|---|---|")
    baseline = _ms(await _baseline(args.runs))
    for backend in args.backends:
        cold, warm, files = await _backend(backend, cold_runs, args.runs)
        print(f"| {backend} | {_ms(cold)} | {_ms(warm)} | {_ms(files)} | {baseline} |")


if __name__ == "__main__":
    asyncio.run(main())
