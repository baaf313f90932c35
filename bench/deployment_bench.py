"""Deployment fires: how late a cron fire starts after its scheduled minute, and its Temporal round trips.

Runs ``dma dev`` (bench.system) with the built-in scripted model and ``DMA_SCHEDULE_JITTER_SECONDS=0`` (so the figure
is dma's and Temporal's own lateness, not the jitter dma adds on purpose), creates ``--deployments`` deployments on
``* * * * *`` and waits for ``--minutes`` minute boundaries:

    .venv/bin/python -m bench.deployment_bench [--deployments 10] [--minutes 2]

Lateness is measured three ways from the run's ``scheduled_at`` (the cron minute): when Temporal started the fire
workflow, when the run row was written, and when the session's first turn went running. Round trips are counted from
the fire workflow's history.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
from temporalio.api.enums.v1 import EventType

from bench.system import System
from dma.temporal import connect_client

EVERY_MINUTE = {"type": "cron", "expression": "* * * * *", "timezone": "UTC"}


def _runs(client: anthropic.Anthropic, deployment_ids: list[str]) -> list[Any]:
    return [run for d in deployment_ids for run in client.beta.deployment_runs.list(deployment_id=d)]


async def _histories(address: str, deployment_ids: list[str]) -> list[Any]:
    temporal = await connect_client(address, "default")
    found: list[Any] = []
    for deployment_id in deployment_ids:
        async for execution in temporal.list_workflows(f"DeploymentId = '{deployment_id}'"):
            found.append(await temporal.get_workflow_handle(execution.id).fetch_history())
    return found


def _name(event: Any) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


def _first_running(client: anthropic.Anthropic, session_id: str) -> datetime | None:
    events = list(client.beta.sessions.events.list(session_id))
    running = [e for e in events if e.type == "session.status_running"]
    return running[0].processed_at if running else None


def _row(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    median = statistics.median(ordered) * 1000
    return f"| {label} | {median:.0f} ms | {p90 * 1000:.0f} ms | {ordered[-1] * 1000:.0f} ms | {len(ordered)} |"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="dma-deployment-bench-"))
    data_dir.chmod(0o711)
    system = System(data_dir, extra_env={"DMA_SCHEDULE_JITTER_SECONDS": "0"}).start()
    try:
        client = anthropic.Anthropic(api_key=system.api_key, base_url=system.api_url, max_retries=0)
        agent = client.beta.agents.create(name="deployment-bench", model="scripted")
        environment = client.beta.environments.create(name="deployment-bench")
        hello: Any = [{"type": "user.message", "content": [{"type": "text", "text": "scheduled hello"}]}]
        ids = [
            client.beta.deployments.create(
                name=f"bench-{i}", agent=agent.id, environment_id=environment.id, initial_events=hello,
                schedule=EVERY_MINUTE,  # type: ignore[arg-type]
            ).id
            for i in range(args.deployments)
        ]  # fmt: skip
        wanted = args.deployments * args.minutes
        deadline = time.monotonic() + 70 * args.minutes + 30
        while len(_runs(client, ids)) < wanted and time.monotonic() < deadline:
            time.sleep(1)
        for deployment_id in ids:
            client.beta.deployments.archive(deployment_id)
        time.sleep(3)  # the last sessions finish their first turn
        runs = _runs(client, ids)
        histories = asyncio.run(_histories(system.temporal_address, ids))
        scheduled = [r for r in runs if r.trigger_context.type == "schedule" and r.session_id]
        turn_late = [
            (running - r.trigger_context.scheduled_at).total_seconds()
            for r in scheduled
            if (running := _first_running(client, r.session_id or "")) is not None
        ]
    finally:
        system.stop()
    row_late = [(r.created_at - r.trigger_context.scheduled_at).total_seconds() for r in scheduled]
    start_late: list[float] = []
    counts: list[Counter[str]] = []
    for history in histories:
        events = list(history.events)
        started = events[0].event_time.ToDatetime().timestamp()
        attrs = events[0].workflow_execution_started_event_attributes
        nominal = attrs.search_attributes.indexed_fields.get("TemporalScheduledStartTime")
        if nominal is not None:
            moment = datetime.fromisoformat(nominal.data.decode().strip('"').replace("Z", "+00:00"))
            start_late.append(started - moment.timestamp())
        counts.append(Counter(_name(e) for e in events))
    print(f"{len(scheduled)} scheduled fires of {args.deployments} deployments over {args.minutes} minute(s), jitter 0")
    print()
    print("| metric | median | p90 | max | fires |")
    print("|---|---|---|---|---|")
    print(_row("cron minute → fire workflow started (Temporal)", start_late))
    print(_row("cron minute → run recorded (session created)", row_late))
    print(_row("cron minute → first turn running", turn_late))
    if counts:
        total = sum(counts, Counter[str]())
        per_fire = {name: round(n / len(counts), 2) for name, n in sorted(total.items())}
        print()
        print(f"Temporal history events per fire ({sum(per_fire.values()):.0f}): {per_fire}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
