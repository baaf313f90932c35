"""The benchmark's measurements. Each returns a plain dict that ``report.py`` renders and ``--json`` prints."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic
import httpx
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.client import Api, TurnTiming
from bench.system import System

T = TypeVar("T")
BENCH_MODEL = "claude-sonnet-4-6"  # not ``scripted``: the worker calls the fake model over HTTP like a real provider
MAX_TOKENS = 8192  # what the worker asks for (DMA_MODEL_MAX_TOKENS default), so the raw loop sends the same body
STREAMED_DIRECTIVE = "[[slow:1]]"  # ten text chunks 100 ms apart: a reply whose first token comes before its last
TOOL_DIRECTIVE = '[[tool:bash {"command":"echo hi"}]]'
TOOLSET = [{"type": "agent_toolset_20260401"}]
IDLE_TIMEOUT_PER_SESSION = 0.5  # seconds; the idle-cost run gives up (loudly) past this pace
BREAKDOWN_SAMPLE = 20  # sessions of a throughput run whose histories feed its breakdown


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    """Median and p90 in milliseconds."""
    return {"n": len(seconds), "median_ms": ms(median(seconds)), "p90_ms": ms(p90(seconds))}


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs with at most ``limit`` at a time, in order of results."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


@dataclass
class Bench:
    """Everything a scenario needs: the running system, an API client, the model's recordings, Temporal."""

    system: System
    api: Api
    temporal: Client
    agent_id: str
    environment_id: str

    async def model_requests(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.system.model_url) as http:
            response = await http.get("/_bench/requests")
            response.raise_for_status()
            return list(response.json())

    async def model_count(self) -> int:
        async with httpx.AsyncClient(base_url=self.system.model_url) as http:
            return int((await http.get("/_bench/count")).json()["requests"])

    async def by_prompt(self) -> dict[str, dict[str, Any]]:
        """The model's records keyed by prompt (the first request of each prompt)."""
        found: dict[str, dict[str, Any]] = {}
        for record in await self.model_requests():
            found.setdefault(str(record["prompt"]), record)
        return found

    def processes(self) -> dict[str, psutil.Process]:
        return {
            "dma": psutil.Process(self.system.dma_pid),
            "worker": psutil.Process(self.system.worker_pid),
            "temporal": psutil.Process(self.system.temporal_pid),
            "model": psutil.Process(self.system.model.pid if self.system.model else 0),
            "driver": psutil.Process(),
        }


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    times = {name: process.cpu_times() for name, process in processes.items()}
    return {name: t.user + t.system for name, t in times.items()}


def _idle_cpu(processes: list[psutil.Process], interval: float = 1.0) -> float:
    """Cores the processes use together over ``interval`` seconds."""
    before = sum(p.cpu_times().user + p.cpu_times().system for p in processes)
    time.sleep(interval)
    return (sum(p.cpu_times().user + p.cpu_times().system for p in processes) - before) / interval


def rss_mib(process: psutil.Process) -> float:
    return round(process.memory_info().rss / 2**20, 1)


async def sequential_turns(
    bench: Bench, label: str, count: int, directive: str = "", warmup: int = 2
) -> tuple[str, list[TurnTiming]]:
    """One session, one open stream with ``agent.message`` deltas, ``count`` turns one after another."""
    session_id = await bench.api.create_session(bench.agent_id, bench.environment_id)
    timings: list[TurnTiming] = []
    async with bench.api.stream(session_id, deltas=True) as stream:
        for index in range(warmup + count):
            timing = await stream.turn(bench.api, f"{directive} bench-{label}-{index}".strip())
            if index >= warmup:
                timings.append(timing)
    return session_id, timings


async def latency(bench: Bench, count: int) -> dict[str, Any]:
    """Plain-turn, pre-model and first-delta latency of an instant reply, and of a streamed one."""
    session_id, plain = await sequential_turns(bench, "plain", count)
    _, streamed = await sequential_turns(bench, "streamed", max(3, count // 4), STREAMED_DIRECTIVE, warmup=0)
    records = await bench.by_prompt()
    pre_model = [records[t.prompt]["arrived"] - t.sent for t in plain]
    first_delta = [t.first_delta - records[t.prompt]["first_byte"] for t in plain if t.first_delta is not None]
    streamed_delta = [t.first_delta - records[t.prompt]["first_byte"] for t in streamed if t.first_delta is not None]
    if len(streamed_delta) < len(streamed):
        raise RuntimeError("a streamed turn ended without any event_delta on a stream that asked for them")
    return {
        "session_id": session_id,
        "plain_turn": summary([t.latency for t in plain]),
        "pre_model": summary(pre_model),
        # An instant reply can commit before the reader drains its preview; the reader then drops the preview of a
        # message it already sent (by design), so some instant turns show no delta at all.
        "first_delta": summary(first_delta or [math.nan]) | {"turns_without_delta": len(plain) - len(first_delta)},
        "first_delta_streamed": summary(streamed_delta) | {"directive": STREAMED_DIRECTIVE},
        "post_response": summary([t.posted - t.sent for t in plain]),
        "timings": plain,
        "records": records,
    }


async def long_session(bench: Bench, turns: int, window: int) -> dict[str, Any]:
    """Turn latency early and late in one long session: what a growing event log costs each turn."""
    _, timings = await sequential_turns(bench, "long", turns, warmup=0)
    return {
        "turns": turns,
        "window": window,
        "early": summary([t.latency for t in timings[:window]]),
        "late": summary([t.latency for t in timings[-window:]]),
    }


async def baseline(bench: Bench, count: int, warmup: int = 2) -> dict[str, Any]:
    """The same fake model through the same ``anthropic`` SDK streaming call, in a plain loop."""
    client = anthropic.AsyncAnthropic(api_key="bench", base_url=bench.system.model_url, max_retries=0)
    sent: dict[str, tuple[float, float | None, float]] = {}
    try:
        for index in range(warmup + count):
            prompt = f"bench-raw-{index}"
            messages: Any = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
            start, first = time.monotonic(), None
            stream = await client.messages.create(
                model=BENCH_MODEL, max_tokens=MAX_TOKENS, messages=messages, stream=True
            )
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta" and first is None:
                        first = time.monotonic()
            if index >= warmup:
                sent[prompt] = (start, first, time.monotonic())
    finally:
        await client.close()
    records = await bench.by_prompt()
    return {
        "call": summary([end - start for start, _, end in sent.values()]),
        "pre_model": summary([records[p]["arrived"] - start for p, (start, _, _) in sent.items()]),
        "first_delta": summary([first - records[p]["first_byte"] for p, (_, first, _) in sent.items() if first]),
    }


async def throughput(bench: Bench, sessions: int, turns: int) -> dict[str, Any]:
    """``sessions`` clients at once, each with its stream open, each running ``turns`` turns back to back."""
    ids = await bounded(50, [lambda: bench.api.create_session(bench.agent_id, bench.environment_id)] * sessions)
    processes = bench.processes()
    async with contextlib.AsyncExitStack() as streams:
        opened = await bounded(50, [lambda sid=sid: streams.enter_async_context(bench.api.stream(sid)) for sid in ids])

        async def client(index: int) -> list[TurnTiming]:
            stream = opened[index]
            return [await stream.turn(bench.api, f"bench-tp{sessions}-{index}-{t}") for t in range(turns)]

        requests_before = await bench.model_count()
        before, start = cpu_seconds(processes), time.monotonic()
        timings = await asyncio.gather(*(client(i) for i in range(sessions)))
        wall, after = time.monotonic() - start, cpu_seconds(processes)
        requests = await bench.model_count() - requests_before
    total = sessions * turns
    sample = list(zip(ids, timings, strict=True))[:: max(1, sessions // BREAKDOWN_SAMPLE)]
    histories = [(await settled_history(bench.temporal, sid), session_timings) for sid, session_timings in sample]
    return {
        "sessions": sessions,
        "turns": turns,
        "wall_s": round(wall, 2),
        "turns_per_s": round(total / wall, 1),
        "model_requests_per_turn": round(requests / total, 2),
        "cpu_ms_per_turn": {name: ms((after[name] - before[name]) / total) for name in processes},
        "cpu_utilisation": {name: round((after[name] - before[name]) / wall, 2) for name in processes},
        "turn_latency": summary([t.latency for session_timings in timings for t in session_timings]),
        "breakdown": breakdown(histories, await bench.by_prompt()),
    }


async def idle_cost(bench: Bench, sessions: int, concurrency: int, settle: float) -> dict[str, Any]:
    """RSS after ``sessions`` new sessions ran one turn each and went idle.

    Each session is one ``POST /v1/sessions`` with the message in ``initial_events``; at most ``concurrency`` turns
    are in flight (sessions created but not yet answered by the model), and the run ends when the API lists none of
    them as running. No event streams are held open, so this is the cost of sessions, not of clients. A failed
    create is counted, not retried.
    """
    processes = bench.processes()
    dma, worker, temporal = processes["dma"], processes["worker"], processes["temporal"]
    before = {"dma": rss_mib(dma), "worker": rss_mib(worker), "temporal": rss_mib(temporal)}
    agent_id = await bench.api.create_agent(BENCH_MODEL)
    failures: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int) -> None:
        try:
            await bench.api.create_session(agent_id, bench.environment_id, f"bench-idle-{index}")
        except httpx.HTTPError as err:
            failures.append(repr(err)[:200])

    async with httpx.AsyncClient(base_url=bench.system.model_url) as model:

        async def answered() -> int:
            return int((await model.get("/_bench/count")).json()["requests"])

        start, base = time.monotonic(), await answered()
        deadline = start + IDLE_TIMEOUT_PER_SESSION * sessions + 120
        while len(tasks) < sessions:
            room = concurrency - (len(tasks) - len(failures) - (await answered() - base))
            tasks += [asyncio.create_task(one(i)) for i in range(len(tasks), min(sessions, len(tasks) + room))]
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(tasks)} of {sessions} idle-cost sessions started in time")
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
        while await bench.api.busy_sessions(agent_id):
            if time.monotonic() > deadline:
                raise TimeoutError("idle-cost sessions were still running at the deadline")
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - start
    await asyncio.sleep(settle)
    after = {"dma": rss_mib(dma), "worker": rss_mib(worker), "temporal": rss_mib(temporal)}
    return {
        "sessions": sessions,
        "concurrency": concurrency,
        "failed_creates": len(failures),
        "first_failure": failures[0] if failures else None,
        "elapsed_s": round(elapsed, 1),
        "sessions_per_s": round(sessions / elapsed, 1),
        "settle_s": settle,
        "rss_before_mib": before,
        "rss_after_mib": after,
        "kib_per_session": {name: round((after[name] - before[name]) * 1024 / sessions, 1) for name in after},
        "dma_cpu_idle": round(_idle_cpu([dma, worker]), 3),
    }


async def tool_turn(bench: Bench, count: int, backend: str) -> dict[str, Any]:
    """``bash echo hi`` through the built-in toolset; the first turn (which creates the sandbox) is not counted."""
    agent_id = await bench.api.create_agent(BENCH_MODEL, TOOLSET)
    session_id = await bench.api.create_session(agent_id, bench.environment_id)
    latencies: list[float] = []
    first = 0.0
    async with bench.api.stream(session_id) as stream:
        for index in range(count + 1):
            timing = await stream.turn(bench.api, f"{TOOL_DIRECTIVE} bench-tool-{index}")
            result = next((f.data for f in timing.frames if f.name == "agent.tool_result"), None)
            blocks: list[dict[str, Any]] = (result or {}).get("content") or []
            output = " ".join(str(block.get("text", "")) for block in blocks)
            if result is None or result.get("is_error") or "hi" not in output.split():
                return {"available": False, "backend": backend, "reason": f"bash answered {output[:160]!r}"}
            if index:
                latencies.append(timing.latency)
            else:
                first = timing.latency
    return {"available": True, "backend": backend, "turn": summary(latencies), "first_turn_ms": ms(first)}


SETTLED = {EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES}


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


async def settled_history(temporal: Client, workflow_id: str, timeout: float = 30.0) -> list[HistoryEvent]:
    """The history once its last workflow task has completed (idle shows on SSE before that task runs)."""
    deadline = time.monotonic() + timeout
    while True:
        history = await temporal.get_workflow_handle(workflow_id).fetch_history()
        events = list(history.events)
        kinds = Counter(e.event_type for e in events)
        waiting = (
            kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] > kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
        )
        if events[-1].event_type in SETTLED and not waiting:
            return events
        if time.monotonic() > deadline:
            raise TimeoutError(f"the history of {workflow_id} did not settle")
        await asyncio.sleep(0.1)


def _name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


async def round_trips(bench: Bench, turns: int) -> dict[str, Any]:
    """History events per plain turn: (events after N turns − events after 1 turn) / (N − 1).

    Each turn waits until its workflow task has completed, so turns do not share workflow tasks (a turn sent right
    after the previous one went idle can ride on that task and look cheaper than an isolated turn).
    """
    session_id = await bench.api.create_session(bench.agent_id, bench.environment_id)
    counts: list[Counter[str]] = []
    async with bench.api.stream(session_id) as stream:
        for index in range(turns):
            await stream.turn(bench.api, f"bench-rt-{index}")
            counts.append(Counter(_name(e) for e in await settled_history(bench.temporal, session_id)))
    first, last = counts[0], counts[-1]
    per_turn = {
        name: round((last[name] - first[name]) / (turns - 1), 2)
        for name in sorted(set(first) | set(last))
        if last[name] != first[name]
    }
    return {
        "turns": turns,
        "per_turn": per_turn,
        "events_per_turn": round(sum(per_turn.values()), 2),
        "workflow_tasks": per_turn.get("workflow_task_completed", 0),
        "activity_tasks": per_turn.get("activity_task_completed", 0),
        # The model step's marker (a local activity: no task of its own).
        "local_activities": per_turn.get("marker_recorded", 0),
        "signals": per_turn.get("workflow_execution_signaled", 0),
        "first_turn_events": sum(first.values()),
    }


def _after(events: list[HistoryEvent], position: int, kind: EventType.ValueType) -> int:
    return next(i for i in range(position + 1, len(events)) if events[i].event_type == kind)


def _turn_marks(events: list[HistoryEvent], signal: int) -> dict[str, float]:
    """Event times of the workflow task that served the signal at ``signal``.

    The model step runs inside that task as a local activity (``workflows.session.LOCAL_MODEL_STEP``), so the task's
    start is the last Temporal stamp before the model gets the request.
    """
    wft_started = _after(events, signal, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    return {"signaled": _seconds(events[signal]), "wft_started": _seconds(events[wft_started])}


def breakdown(sessions: list[tuple[list[HistoryEvent], list[TurnTiming]]], records: dict[str, dict[str, Any]]) -> Any:
    """Where turns' time went, from client stamps, Temporal event times and the model's stamps (median ms each).

    ``sessions`` pairs a workflow history with the timings of that session's last turns, in order.
    """
    segments: dict[str, list[float]] = {}
    for history, timings in sessions:
        signals = [i for i, e in enumerate(history) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        for timing, signal in zip(timings, signals[-len(timings) :], strict=True):
            marks, record = _turn_marks(history, signal), records[timing.prompt]
            spans = [
                ("api_to_signal", timing.sent_wall, marks["signaled"]),
                ("signal_to_workflow_task", marks["signaled"], marks["wft_started"]),
                ("workflow_task_to_model", marks["wft_started"], record["arrived_wall"]),
                ("model", record["arrived_wall"], record["finished_wall"]),
            ]
            for name, begin, end in spans:
                segments.setdefault(name, []).append(end - begin)
            segments.setdefault("model_done_to_idle_on_sse", []).append(timing.idle - record["finished"])
            segments.setdefault("post_response", []).append(timing.posted - timing.sent)
    return {name: ms(median(values)) for name, values in segments.items()}
