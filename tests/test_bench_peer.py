"""``dma bench --against``'s own arithmetic: the side-by-side table, the A B A B order, and the py-spy summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import peer

PLAN = peer.Plan(("plain", "small", "streams"), 2, 3, 1, (2, 2), (3, 1), 8, 4, 0.1, 2)


def _results() -> dict[str, dict[str, list[dict[str, Any]]]]:
    plain = {"dma": [{"turns": [0.1, 0.2], "posts": [0.01]}, {"turns": [0.3], "posts": [0.03]}]}
    plain["peer"] = [{"turns": [0.05], "posts": [0.01]}, {"turns": [0.05], "posts": [0.01]}]
    small = {
        name: [{"turns": [1.0], "turns_per_s": tps, "cpu_per_turn": None}]
        for name, tps in (("dma", 5.0), ("peer", 10.0))
    }
    stream = {"idle_cpu": 0.02, "idle_cpu_api": 0.01, "gets": [0.01], "fan_out": [0.2], "streams": 4, "reached": 4}
    stream["turn_cpu"] = 0.25
    peer_stream = stream | {"idle_cpu_api": None, "turn_cpu": 0.05}
    return {"plain": plain, "small": small, "streams": {"dma": [stream], "peer": [peer_stream]}}


def test_the_table_has_both_columns_and_the_ratio() -> None:
    text = peer.table(peer.rows(_results(), PLAN, ["dma", "peer"]), ["dma", "peer"])
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert lines["plain turn median"] == "| plain turn median | 200.0 ms | 50.0 ms | 4.00× |"
    assert lines["2 × 2: throughput"] == "| 2 × 2: throughput | 5.0 turns/s | 10.0 turns/s | 0.50× |"
    assert lines["2 × 2: server CPU per turn"].endswith("| n/a | n/a | n/a |")
    assert "| 4 streams held: idle CPU of dma's API process | 1.0 % core | n/a | n/a |" in text
    assert "| 4 streams held: server CPU of a turn (whole tree) | 250.0 ms | 50.0 ms | 5.00× |" in text


async def test_blocks_alternate_between_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    async def block(target: peer.Target) -> dict[str, Any]:
        order.append(target.name)
        return {"turns": [0.1], "posts": [0.1]}

    async def nothing(_: peer.Target) -> None:
        return None

    monkeypatch.setattr(peer, "_blocks", lambda _plan: {"plain": block})  # pyright: ignore[reportUnknownLambdaType]
    monkeypatch.setattr(peer.Target, "open", nothing)
    monkeypatch.setattr(peer.Target, "close", nothing)
    targets = [peer.Target("dma", "http://a", "k", None), peer.Target("peer", "http://b", "k", None)]
    plan = peer.Plan(("plain",), 2, 1, 1, (1, 1), (1, 1), 1, 1, 0.1, 1)
    results = await peer.run(plan, targets, None, lambda _: None)
    assert order == ["dma", "peer", "dma", "peer"] and len(results["plain"]["dma"]) == 2


def test_profile_summary_splits_by_package_and_own_code(tmp_path: Path) -> None:
    folded = tmp_path / "plain-r1.folded"
    folded.write_text(
        "main (dma/cli/app.py);run_dev (workers/dev.py);step (activities/model/step.py);_execute (aiosqlite/c.py) 30\n"
        "main (dma/cli/app.py);run_dev (workers/dev.py);select (selectors.py) 10\n"
        "main (dma/cli/app.py);run_dev (workers/dev.py);EpollSelector.select (selectors.py) 60\n"
    )
    lines = peer.summarize_profile(folded)
    assert lines[0] == "plain-r1: 100 samples"
    assert "   60.0 (idle: waiting in select/locks)" in lines and "   30.0 aiosqlite" in lines
    assert "   30.0 step (activities/model/step.py)" in lines and not any("dma/cli" in line for line in lines[-3:])
    assert folded.with_suffix(".txt").read_text().splitlines() == lines


def test_profile_summary_drops_the_process_frames_of_subprocesses(tmp_path: Path) -> None:
    folded = tmp_path / "large-r1.folded"
    folded.write_text(
        'process 1:"python -m dma.cli dev";process 2:"python -m workers.dev_worker";step (activities/model/step.py) 3\n'
        'process 1:"python -m dma.cli dev";process 2:"python -m workers.dev_worker" 1\n'
    )
    lines = peer.summarize_profile(folded)
    assert "   75.0 activities" in lines and "   25.0 (idle: waiting in select/locks)" in lines
    assert not any("process " in line for line in lines)
