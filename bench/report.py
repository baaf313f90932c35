"""The benchmark's markdown table, built from the results dict (the same dict ``--json`` prints)."""

from __future__ import annotations

from typing import Any

BREAKDOWN_LABELS = {
    "post_response": "POST /events answered (DB write + signal-with-start)",
    "api_to_signal": "POST sent → signal in Temporal history",
    "signal_to_workflow_task": "signal → workflow task started on the worker",
    "workflow_task_to_model": "workflow task started → model gets the request (workflow code, local `model_step`)",
    "model": "model answers (fake, instant)",
    "model_done_to_idle_on_sse": "model done → `session.status_idle` at the client",
}


def _pair(summary: dict[str, Any]) -> str:
    return f"{summary['median_ms']:.1f} / {summary['p90_ms']:.1f} ms"


def _ratio(dma: dict[str, Any], raw: dict[str, Any]) -> str:
    def one(key: str) -> str:
        return f"{dma[key] / raw[key]:.1f}×" if raw[key] > 0 else "—"

    return f"{one('median_ms')} / {one('p90_ms')}"


def _signs(row: dict[str, Any]) -> str:
    signs = row["log_signs"]
    found = [f"{count} {name.replace('_', ' ')}" for name, count in signs.items() if count]
    return f"; dma log: {', '.join(found)}" if found else ""


def _throughput(row: dict[str, Any]) -> str:
    cpu = row["cpu_ms_per_turn"]
    return (
        f"{row['turns_per_s']:.1f} turns/s; CPU per turn: dma API {cpu['dma']:.1f} ms, worker {cpu['worker']:.1f} ms, "
        f"Temporal {cpu['temporal']:.1f} ms; turn p50 / p90 {_pair(row['turn_latency'])}; "
        f"{row['model_requests_per_turn']:.2f} model requests per turn{_signs(row)}"
    )


def _latency_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    lat, raw = results["latency"], results["baseline"]
    n = lat["plain_turn"]["n"]
    return [
        (
            f"Plain turn: POST `user.message` → `session.status_idle` on SSE (p50 / p90, n={n})",
            _pair(lat["plain_turn"]),
            f"{_pair(raw['call'])} (SDK call → stream end)",
            _ratio(lat["plain_turn"], raw["call"]),
        ),
        (
            "Pre-model: POST → the model receives the request",
            _pair(lat["pre_model"]),
            f"{_pair(raw['pre_model'])} (SDK call → request arrives)",
            _ratio(lat["pre_model"], raw["pre_model"]),
        ),
        (
            "First delta: model's first token → first `event_delta` at the client (instant reply; "
            f"{lat['first_delta']['turns_without_delta']} of {n} turns had none)",
            _pair(lat["first_delta"]),
            f"{_pair(raw['first_delta'])} (first token → SDK delta)",
            _ratio(lat["first_delta"], raw["first_delta"]),
        ),
        (
            f"First delta, streamed reply (`{lat['first_delta_streamed']['directive']}`: 10 chunks 100 ms apart)",
            _pair(lat["first_delta_streamed"]),
            _pair(raw["first_delta"]),
            _ratio(lat["first_delta_streamed"], raw["first_delta"]),
        ),
    ]


def _other_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    long = results["long_session"]
    rows.append(
        (
            f"Long session: plain turn latency, turns 1–{long['window']} vs the last {long['window']} of "
            f"{long['turns']} (p50 / p90)",
            f"{_pair(long['early'])} → {_pair(long['late'])}",
            "",
            "",
        )
    )
    for key in ("tool_turn_bwrap", "tool_turn_docker"):
        tool = results[key]
        if tool["available"]:
            value = f"{_pair(tool['turn'])} (first turn, creating the sandbox: {tool['first_turn_ms']:.0f} ms)"
        else:
            value = f"n/a: {tool['reason']}"
        label = f"Tool turn `bash echo hi` on `{tool['backend']}` (model → tool → model, p50 / p90)"
        rows.append((label, value, "", ""))
    for key in ("throughput_small", "throughput_large"):
        row = results[key]
        rows.append((f"Throughput {row['sessions']} sessions × {row['turns']} turns", _throughput(row), "", ""))
    idle = results["idle_cost"]
    rss, per = idle["rss_after_mib"], idle["kib_per_session"]
    rows.append(
        (
            f"Idle cost: RSS after {idle['sessions']:,} sessions × 1 turn, then {idle['settle_s']:.0f} s idle",
            f"dma API {rss['dma']:.0f} MiB (+{per['dma']:.1f} KiB/session), "
            f"worker {rss['worker']:.0f} MiB (+{per['worker']:.1f} KiB/session), "
            f"Temporal {rss['temporal']:.0f} MiB (+{per['temporal']:.1f} KiB/session); "
            f"dma (API + worker) idle CPU {idle['dma_cpu_idle'] * 100:.1f} %; {idle['sessions_per_s']:.1f} sessions/s, "
            f"{idle['failed_creates']} failed creates{_signs(idle)}",
            "",
            "",
        )
    )
    trips = results["round_trips"]
    rows.append(
        (
            "Temporal round trips per plain turn (from workflow history)",
            f"{trips['signals']:g} signal-with-start, {trips['workflow_tasks']:g} workflow tasks, "
            f"{trips['activity_tasks']:g} activity tasks, {trips['local_activities']:g} local activity; "
            f"{trips['events_per_turn']:g} history events",
            "",
            "",
        )
    )
    return rows


def markdown(results: dict[str, Any]) -> str:
    """One table: figures, the raw-loop baseline, ratios, and where a median plain turn's time goes."""
    rows = _latency_rows(results) + _other_rows(results)
    loaded = results["throughput_large"]
    load = f"{loaded['sessions']} × {loaded['turns']}"
    rows.append(
        (f"Where a plain turn's time goes (median of each step; sequential, and under {load} load)", "", "", "")
    )
    rows += [
        (f"↳ {label}", f"{results['breakdown'][key]:.1f} ms (under load: {loaded['breakdown'][key]:.1f} ms)", "", "")
        for key, label in BREAKDOWN_LABELS.items()
    ]
    lines = ["| Measure | dma | Raw loop (same model, same SDK call) | dma / raw |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    machine = results["machine"]
    lines.append("")
    lines.append(
        f"{results['mode']} run · {machine['cores']} cores · Python {machine['python']} · {machine['platform']} · "
        f"SQLite + Temporal dev server (embedded defaults) · {results['elapsed_s']:.0f} s · "
        f"load average before {machine['load_before'][0]:.2f}, after {machine['load_after'][0]:.2f}"
    )
    return "\n".join(lines)
