"""``dma bench --quick --json`` runs end to end and reports every row (figures are measured, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LATENCY_ROWS = ("plain_turn", "pre_model", "first_delta", "first_delta_streamed")
STEPS = (
    "post_response",
    "api_to_signal",
    "signal_to_workflow_task",
    "workflow_task_to_model",
    "model",
    "model_done_to_idle_on_sse",
)


def positive_summary(summary: dict[str, Any]) -> bool:
    return summary["n"] >= 1 and 0 < summary["median_ms"] <= summary["p90_ms"]


def test_bench_quick_reports_every_row() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "dma.cli", "bench", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(run.stdout)

    latency, baseline = results["latency"], results["baseline"]
    assert all(positive_summary(latency[row]) for row in LATENCY_ROWS if row != "first_delta")
    assert latency["plain_turn"]["n"] >= 5
    assert all(positive_summary(baseline[row]) for row in ("call", "pre_model", "first_delta"))
    assert set(results["breakdown"]) == set(STEPS)
    assert results["long_session"]["turns"] >= 20 and positive_summary(results["long_session"]["late"])
    for key in ("tool_turn_bwrap", "tool_turn_docker"):
        tool = results[key]
        assert positive_summary(tool["turn"]) if tool["available"] else tool["reason"]
    for key in ("throughput_small", "throughput_large"):
        row = results[key]
        assert row["turns_per_s"] > 0 and row["cpu_ms_per_turn"]["dma"] > 0 and row["cpu_ms_per_turn"]["temporal"] > 0
        assert set(row["breakdown"]) == set(STEPS)
    idle = results["idle_cost"]
    assert idle["sessions"] >= 50 and idle["rss_after_mib"]["dma"] > 0 and idle["rss_after_mib"]["temporal"] > 0
    trips = results["round_trips"]
    assert trips["signals"] >= 1 and trips["workflow_tasks"] >= 1 and trips["local_activities"] >= 1
    table = results["table"]
    for label in ("Plain turn", "Pre-model", "First delta", "Throughput", "Idle cost", "round trips", "Tool turn"):
        assert label in table, f"the table has no {label!r} row"
