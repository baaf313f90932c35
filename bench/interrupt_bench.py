"""Interrupt latency: POST ``user.interrupt`` → ``session.status_idle`` seen on SSE, against a slowly streaming model.

Runs ``dma dev`` (bench.system) with the built-in scripted model, so nothing else is needed:

    .venv/bin/python -m bench.interrupt_bench [--runs 20]

What bounds it: cancellation reaches an activity only in the response to a heartbeat. Activities heartbeat every
0.2 s locally and the worker flushes heartbeats to the server at most every 0.4 s (``MAX_HEARTBEAT_THROTTLE``), so the
cancel lands within about 0.4 s plus a few Temporal round trips (signal, workflow task, cancel request, activity
cancelled, workflow task, ``finish_turn`` activity).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anthropic

from bench.system import System

SLOW = "[[slow:30]] please write a long answer"


def one_interrupt(client: anthropic.Anthropic, agent_id: str, environment_id: str) -> float:
    """Seconds from sending the interrupt to the idle event on the stream."""
    session = client.beta.sessions.create(agent=agent_id, environment_id=environment_id)
    message: Any = {"type": "user.message", "content": [{"type": "text", "text": SLOW}]}
    interrupt: Any = {"type": "user.interrupt"}
    streaming = threading.Event()
    with client.beta.sessions.events.stream(session.id, event_deltas=["agent.message"]) as stream:
        client.beta.sessions.events.send(session.id, events=[message])
        sent_at = 0.0
        for event in stream:
            if event.type == "event_delta" and not streaming.is_set():
                streaming.set()  # the model is mid-stream: interrupt now
                sent_at = time.monotonic()
                client.beta.sessions.events.send(session.id, events=[interrupt])
            if event.type == "session.status_idle" and sent_at:
                return time.monotonic() - sent_at
    raise RuntimeError("the stream ended before the turn did")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="dma-interrupt-bench-"))
    data_dir.chmod(0o711)
    system = System(data_dir).start()
    try:
        client = anthropic.Anthropic(api_key=system.api_key, base_url=system.api_url, max_retries=0)
        agent = client.beta.agents.create(name="interrupt-bench", model="scripted")
        environment = client.beta.environments.create(name="interrupt-bench")
        one_interrupt(client, agent.id, environment.id)  # warm-up
        samples = sorted(one_interrupt(client, agent.id, environment.id) for _ in range(args.runs))
    finally:
        system.stop()
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print("| metric | median | p90 | max | runs |")
    print("|---|---|---|---|---|")
    median_ms, p90_ms, max_ms = statistics.median(samples) * 1000, p90 * 1000, samples[-1] * 1000
    print(
        f"| interrupt latency (POST user.interrupt → status_idle on SSE) | {median_ms:.0f} ms | {p90_ms:.0f} ms "
        f"| {max_ms:.0f} ms | {len(samples)} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
