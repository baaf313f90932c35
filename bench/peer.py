"""``dma bench --against URL``: the same HTTP-level blocks against dma and another Managed-Agents server, alternating.

    dma bench --against http://127.0.0.1:8788 --model-port 8999 --peer-pid 1234
    dma bench --against URL --blocks plain,tool,small --turns 10 --rounds 2     a quick run

The benchmark starts ``dma dev`` and its instant fake model on ``--model-port``; start the peer with its Anthropic
base URL at ``http://127.0.0.1:MODEL_PORT`` so both answer from the same model. Each block runs on dma, then on the
peer, then dma, then the peer (``--rounds``), so drift in the machine's load lands on both columns; only the ratios of
one run mean anything. Every figure is what a client sees over HTTP: a turn is from sending ``user.message`` to the
turn's last ``agent.message`` on the session's SSE stream (some peers emit no ``session.status_*`` events), then the
session is polled until ``GET`` says ``idle`` before the next turn. CPU counts the server's whole process tree
(dma: API, worker and its Temporal dev server; the peer: ``--peer-pid`` and its children).

``--profile DIR`` records dma with py-spy during each of its blocks: ``DIR/<block>-r<round>.folded`` (folded stacks,
for speedscope or flamegraph.pl) and ``.txt`` (the top functions by own and by inclusive samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from bench.profiling import sampled
from bench.system import System

MODEL = "claude-sonnet-4-6"
TOOL_PROMPT = '[[tool:bash {"command":"echo hi"}]]'
TOOLSET = [{"type": "agent_toolset_20260401"}]
TIMEOUT = 120.0
IDLE_POLL = 0.02
ALL_BLOCKS = ("plain", "tool", "small", "large", "long", "streams")
TOP_FUNCTIONS = 12


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))] if ordered else float("nan")


def _cpu_seconds(pid: int | None, *, tree: bool = True) -> float | None:
    """User + system CPU of ``pid`` and (``tree``) its descendants (None: no pid to measure)."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *(root.children(recursive=True) if tree else [])]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return total
    except psutil.Error:
        return None


@dataclass
class Target:
    """One server under test: where it is, and the process tree whose CPU it costs."""

    name: str
    base_url: str
    api_key: str
    pid: int | None
    profile_pid: int | None = None
    http: httpx.AsyncClient = field(init=False)
    agent_id: str = ""
    environment_id: str = ""

    async def open(self) -> None:
        headers = {"authorization": f"Bearer {self.api_key}", "x-api-key": self.api_key}
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(TIMEOUT, connect=30.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=2.0),
        )
        agent = await self.post("/v1/agents", {"name": "bench", "model": MODEL, "tools": TOOLSET})
        self.agent_id = str(agent["id"])
        environment = {"name": "bench", "config": {"type": "cloud", "networking": {"type": "unrestricted"}}}
        self.environment_id = str((await self.post("/v1/environments", environment))["id"])

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        response.raise_for_status()
        return dict(response.json()) if response.content else {}  # some servers answer 202 with no body

    async def new_session(self) -> str:
        return str(
            (await self.post("/v1/sessions", {"agent": self.agent_id, "environment_id": self.environment_id}))["id"]
        )

    async def send(self, session_id: str, text: str) -> None:
        event = {"type": "user.message", "content": [{"type": "text", "text": text}]}
        await self.post(f"/v1/sessions/{session_id}/events", {"events": [event]})

    async def status(self, session_id: str) -> str:
        response = await self.http.get(f"/v1/sessions/{session_id}")
        response.raise_for_status()
        return str(response.json()["status"])

    async def until_idle(self, session_id: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while await self.status(session_id) != "idle":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: session {session_id} never went idle")
            await asyncio.sleep(IDLE_POLL)


class Conversation:
    """One session with its SSE stream open; counts ``agent.message`` frames to see a turn end."""

    def __init__(self, target: Target, session_id: str) -> None:
        self.target = target
        self.session_id = session_id
        self.messages: asyncio.Queue[float] = asyncio.Queue()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        self._task = asyncio.create_task(self._read())
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait([opened, self._task], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if not self._opened.is_set():
            opened.cancel()
            raise RuntimeError(f"{self.target.name}: the stream of {self.session_id} did not open")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    async def _read(self) -> None:
        path = f"/v1/sessions/{self.session_id}/events/stream"
        async with self.target.http.stream("GET", path) as response:
            response.raise_for_status()
            self._opened.set()
            name = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and (name == "agent.message" or '"type":"agent.message"' in line):
                    self.messages.put_nowait(time.monotonic())

    async def turn(self, text: str, messages: int) -> tuple[float, float]:
        """Send ``text``; the turn's latency (to its ``messages``-th agent.message) and the POST's own."""
        sent = time.monotonic()
        await self.target.send(self.session_id, text)
        posted = time.monotonic()
        last = posted
        for _ in range(messages):
            last = await asyncio.wait_for(self.messages.get(), TIMEOUT)
        await self.target.until_idle(self.session_id)
        return last - sent, posted - sent


# ----- blocks: each takes a target and returns its figures ---------------------------------------------------------


async def sequential(target: Target, turns: int, prompt: str | None, messages: int) -> dict[str, Any]:
    async with Conversation(target, await target.new_session()) as chat:
        results = [await chat.turn(prompt or f"hello {uuid.uuid4().hex[:8]}", messages) for _ in range(turns)]
    latencies, posts = [r[0] for r in results], [r[1] for r in results]
    return {"turns": latencies, "posts": posts}


async def throughput(target: Target, sessions: int, turns: int) -> dict[str, Any]:
    ids = await asyncio.gather(*(target.new_session() for _ in range(sessions)))
    async with contextlib.AsyncExitStack() as stack:
        chats = [await stack.enter_async_context(Conversation(target, session_id)) for session_id in ids]
        cpu_before, started = _cpu_seconds(target.pid), time.monotonic()

        async def run(chat: Conversation) -> list[float]:
            return [(await chat.turn(f"hello {uuid.uuid4().hex[:8]}", 1))[0] for _ in range(turns)]

        per_session = await asyncio.gather(*(run(chat) for chat in chats))
        elapsed, cpu_after = time.monotonic() - started, _cpu_seconds(target.pid)
    latencies = [value for values in per_session for value in values]
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / len(latencies)
    return {"turns": latencies, "turns_per_s": len(latencies) / elapsed, "cpu_per_turn": cpu}


async def _raw_stream(url: str, path: str, api_key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare HTTP/1.1 SSE connection: thousands of them cost the driver little next to a full client."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {api_key}\r\nx-api-key: {api_key}\r\n\r\n"
    )
    writer.write(request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"stream refused: {head[:200]!r}")
    return reader, writer


async def streams(target: Target, count: int, settle: float, gets: int) -> dict[str, Any]:
    """``count`` streams on one idle session: idle CPU, GET latency meanwhile, and a new event's fan-out."""
    session_id = await target.new_session()
    await target.send(session_id, "warm up")
    await target.until_idle(session_id)
    path = f"/v1/sessions/{session_id}/events/stream"
    marker = f"probe-{uuid.uuid4().hex[:12]}".encode()
    armed: list[float] = []
    seen: list[float] = []
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def watch(reader: asyncio.StreamReader) -> None:
        tail = b""
        while chunk := await reader.read(65536):
            if armed and marker in tail + chunk:
                seen.append(time.monotonic() - armed[0])
                return
            tail = chunk[-len(marker) :]

    watchers: list[asyncio.Task[None]] = []
    try:
        for start in range(0, count, 100):
            batch = await asyncio.gather(
                *(_raw_stream(target.base_url, path, target.api_key) for _ in range(start, min(count, start + 100)))
            )
            connections += batch
            watchers += [asyncio.create_task(watch(reader)) for reader, _ in batch]
        await asyncio.sleep(settle)  # let the streams settle into their idle rhythm
        cpu_before, at = _cpu_seconds(target.pid), time.monotonic()
        own_before = _cpu_seconds(target.profile_pid, tree=False)
        await asyncio.sleep(settle)
        own = None if own_before is None else (_cpu_seconds(target.profile_pid, tree=False) or 0.0) - own_before
        spent = time.monotonic() - at
        idle_cpu = None if cpu_before is None else ((_cpu_seconds(target.pid) or 0.0) - cpu_before) / spent
        idle_own = None if own is None else own / spent
        get_times: list[float] = []
        for _ in range(gets):
            began = time.monotonic()
            await target.status(session_id)
            get_times.append(time.monotonic() - began)
        turn_cpu_before = _cpu_seconds(target.pid)
        armed.append(time.monotonic())
        await target.send(session_id, marker.decode())
        await asyncio.wait(watchers, timeout=30.0)
        await target.until_idle(session_id)
        # The whole turn's server CPU with every stream held: its events' fan-out to them is most of it.
        turn_cpu = None if turn_cpu_before is None else (_cpu_seconds(target.pid) or 0.0) - turn_cpu_before
    finally:
        for task in watchers:
            task.cancel()
        for _, writer in connections:
            writer.close()
    return {
        "idle_cpu": idle_cpu,
        "idle_cpu_api": idle_own,
        "turn_cpu": turn_cpu,
        "gets": get_times,
        "fan_out": seen,
        # dma shows a user.message once its turn processed it, a peer may echo it at once: the spread after the
        # first stream got it is the fan-out alone, comparable between servers.
        "spread": [value - min(seen) for value in seen] if seen else [],
        "streams": count,
        "reached": len(seen),
    }


# ----- profiling -----------------------------------------------------------------------------------------------------


OWN_CODE = ("dma/", "api/", "activities/", "workflows/", "workers/")
IDLE_FRAMES = ("EpollSelector.select", "Condition.wait", "_worker (concurrent", "(no Python frame)")


def _package(name: str) -> str:
    """The top-level package or stdlib module of a py-spy frame ``function (path/file.py)``."""
    path = name.rpartition(" (")[2].rstrip(")")
    if path.startswith("<"):
        return "import machinery"
    return path.split("/", 1)[0].removesuffix(".py")


def summarize_profile(folded: Path) -> list[str]:
    """A py-spy raw recording: own samples by package, top functions by own samples, and dma's own functions by
    inclusive samples (the frames above them, the event loop and CLI, are in every stack and say nothing)."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not folded.exists():
        return [f"{folded.name}: no samples (py-spy could not attach?)"]
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # ``--subprocesses`` roots each stack in "process PID:cmdline" frames; a stack of only those is a thread
        # with no Python frame (waiting).
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")] or ["(no Python frame)"]
        total += count
        own[frames[-1]] += count
        idle = frames[-1].startswith(IDLE_FRAMES)
        packages["(idle: waiting in select/locks)" if idle else _package(frames[-1])] += count
        for name in {f for f in frames if f.rpartition(" (")[2].startswith(OWN_CODE) and "dma/cli" not in f}:
            inclusive[name] += count
    if not total:
        return [f"{folded.stem}: no samples"]

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}"

    lines = [f"{folded.stem}: {total} samples", "  own%  by package"]
    lines += [f"  {pct(n)} {name}" for name, n in packages.most_common(TOP_FUNCTIONS)]
    lines += ["  own%  function"] + [f"  {pct(n)} {name}" for name, n in own.most_common(TOP_FUNCTIONS)]
    lines += ["  incl% dma's own functions"]
    lines += [f"  {pct(n)} {name}" for name, n in inclusive.most_common(TOP_FUNCTIONS)]
    folded.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    return lines


# ----- the run -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to run and how big."""

    blocks: tuple[str, ...]
    rounds: int
    turns: int
    tool_turns: int
    small: tuple[int, int]
    large: tuple[int, int]
    long_turns: int
    streams: int
    settle: float
    gets: int


def _blocks(plan: Plan) -> dict[str, Callable[[Target], Awaitable[dict[str, Any]]]]:
    return {
        "plain": lambda t: sequential(t, plan.turns, None, 1),
        "tool": lambda t: sequential(t, plan.tool_turns, TOOL_PROMPT, 2),
        "small": lambda t: throughput(t, *plan.small),
        "large": lambda t: throughput(t, *plan.large),
        "long": lambda t: sequential(t, plan.long_turns, None, 1),
        "streams": lambda t: streams(t, plan.streams, plan.settle, plan.gets),
    }


async def run(plan: Plan, targets: list[Target], profile: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    blocks = _blocks(plan)
    for target in targets:
        await target.open()
    try:
        for block in plan.blocks:
            for round_ in range(1, plan.rounds + 1):
                for target in targets:  # A B A B: load drift lands on both
                    log(f"{block} round {round_}: {target.name}")
                    output = profile / f"{block}-r{round_}.folded" if profile and target.profile_pid else None
                    with sampled(target.profile_pid or 0, output):
                        figures = await blocks[block](target)
                    results.setdefault(block, {}).setdefault(target.name, []).append(figures)
    finally:
        for target in targets:
            await target.close()
    return results


def _merge(rounds: list[dict[str, Any]], key: str) -> list[float]:
    return [value for figures in rounds for value in figures.get(key) or []]


def _mean(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [figures[key] for figures in rounds if figures.get(key) is not None]
    return sum(values) / len(values) if values else None


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _block_rows(block: str, plan: Plan) -> list[tuple[str, str, Callable[[list[dict[str, Any]]], float | None]]]:
    """(label, unit, how to pick the figure from the block's rounds) for one block."""

    def q(key: str, quantile: float) -> Callable[[list[dict[str, Any]]], float | None]:
        def pick(rounds: list[dict[str, Any]]) -> float | None:
            values = _merge(rounds, key)
            return _quantile(values, quantile) * 1000 if values else None

        return pick

    def mean(key: str, scale: float) -> Callable[[list[dict[str, Any]]], float | None]:
        return lambda rounds: _scaled(_mean(rounds, key), scale)

    window = min(20, max(1, plan.long_turns // 4))

    def long_window(last: bool) -> Callable[[list[dict[str, Any]]], float | None]:
        def pick(rounds: list[dict[str, Any]]) -> float | None:
            values = [v for f in rounds for v in (f["turns"][-window:] if last else f["turns"][:window])]
            return _quantile(values, 0.5) * 1000 if values else None

        return pick

    def reached(rounds: list[dict[str, Any]]) -> float | None:
        return float(min(f["reached"] for f in rounds))

    if block == "plain":
        return [
            ("plain turn median", "ms", q("turns", 0.5)),
            ("plain turn p90", "ms", q("turns", 0.9)),
            ("POST user.message answered, median", "ms", q("posts", 0.5)),
        ]
    if block == "tool":
        return [("`bash echo hi` tool turn median", "ms", q("turns", 0.5))]
    if block in ("small", "large"):
        sessions, turns = plan.small if block == "small" else plan.large
        return [
            (f"{sessions} × {turns}: throughput", "turns/s", mean("turns_per_s", 1.0)),
            (f"{sessions} × {turns}: median turn", "ms", q("turns", 0.5)),
            (f"{sessions} × {turns}: server CPU per turn", "ms", mean("cpu_per_turn", 1000.0)),
        ]
    if block == "long":
        n = plan.long_turns
        return [
            (f"long session: turns 1–{window} median", "ms", long_window(False)),
            (f"long session: turns {n - window + 1}–{n} median", "ms", long_window(True)),
        ]
    k = plan.streams
    return [
        (f"{k} streams held: idle server CPU (whole tree)", "% core", mean("idle_cpu", 100.0)),
        (f"{k} streams held: idle CPU of dma's API process", "% core", mean("idle_cpu_api", 100.0)),
        (f"{k} streams held: GET p99", "ms", q("gets", 0.99)),
        (f"{k} streams held: server CPU of a turn (whole tree)", "ms", mean("turn_cpu", 1000.0)),
        (f"{k} streams held: new event on every stream p99 (from the POST)", "ms", q("fan_out", 0.99)),
        (f"{k} streams held: the same, after the first stream had it (fan-out alone)", "ms", q("spread", 0.99)),
        (f"{k} streams held: streams the event reached (worst round)", "", reached),
    ]


def rows(
    results: dict[str, dict[str, list[dict[str, Any]]]], plan: Plan, names: list[str]
) -> list[tuple[str, list[float | None], str]]:
    """(measure, one value per target, unit) for the table."""
    out: list[tuple[str, list[float | None], str]] = []
    for block in plan.blocks:
        if block in results:
            for label, unit, pick in _block_rows(block, plan):
                out.append((label, [pick(results[block][name]) for name in names], unit))
    return out


def table(result_rows: list[tuple[str, list[float | None], str]], names: list[str]) -> str:
    head = f"| measure | {' | '.join(names)} | {names[0]} / {names[1]} |"
    lines = [head, "|" + "---|" * (len(names) + 2)]
    for label, values, unit in result_rows:
        shown = ["n/a" if v is None else f"{v:.1f} {unit}".strip() for v in values]
        a, b = values[0], values[1]
        ratio = f"{a / b:.2f}×" if a is not None and b else "n/a"
        lines.append(f"| {label} | {' | '.join(shown)} | {ratio} |")
    return "\n".join(lines)


def _pair(text: str) -> tuple[int, int]:
    sessions, _, turns = text.lower().partition("x")
    return int(sessions), int(turns)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dma bench --against", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--against", required=True, help="base URL of the other Managed-Agents server")
    p.add_argument("--against-key", default="bench", help="its API key (sent as Bearer and x-api-key)")
    p.add_argument("--peer-name", default="peer", help="its column's name")
    p.add_argument("--peer-pid", type=int, default=None, help="its server process (CPU of it and its children)")
    p.add_argument("--model-port", type=int, required=True, help="port of the fake model; point the peer at it")
    p.add_argument("--blocks", default=",".join(ALL_BLOCKS), help=f"comma-separated, of {','.join(ALL_BLOCKS)}")
    p.add_argument("--rounds", type=int, default=2, help="alternations per block (A B A B …)")
    p.add_argument("--turns", type=int, default=30, help="turns of the plain block")
    p.add_argument("--tool-turns", type=int, default=5, help="turns of the tool block")
    p.add_argument("--small", type=_pair, default=(20, 5), help="sessions x turns of the small throughput block")
    p.add_argument("--large", type=_pair, default=(100, 5), help="sessions x turns of the large throughput block")
    p.add_argument("--long-turns", type=int, default=200, help="turns of the long-session block")
    p.add_argument("--streams", type=int, default=2000, help="SSE streams held on one session")
    p.add_argument("--settle", type=float, default=5.0, help="seconds the streams settle, then are measured idle")
    p.add_argument("--gets", type=int, default=100, help="GETs timed while the streams are held")
    p.add_argument("--profile", type=Path, default=None, help="py-spy recordings of dma's blocks go here")
    p.add_argument("--json", type=Path, default=None, help="also write every raw figure here")
    p.add_argument("--keep", action="store_true", help="keep dma's data dir")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    blocks = tuple(b for b in args.blocks.split(",") if b)
    unknown = [b for b in blocks if b not in ALL_BLOCKS]
    if unknown:
        print(f"unknown blocks: {', '.join(unknown)} (known: {', '.join(ALL_BLOCKS)})", file=sys.stderr)
        return 2
    plan = Plan(
        blocks,
        args.rounds,
        args.turns,
        args.tool_turns,
        args.small,
        args.large,
        args.long_turns,
        args.streams,
        args.settle,
        args.gets,
    )
    started = time.monotonic()

    def log(step: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {step}", file=sys.stderr, flush=True)

    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    data_dir = Path(tempfile.mkdtemp(prefix="dma-bench-peer-"))
    data_dir.chmod(0o711)
    system = System(data_dir, model_port=args.model_port, extra_env={"DMA_SANDBOX_BACKEND": "bwrap"})
    try:
        log(f"starting dma dev in {data_dir} (fake model on {system.model_url})")
        system.start()
        dma = Target("dma", system.api_url, system.api_key, system.dma_pid, profile_pid=system.dma_pid)
        peer = Target(args.peer_name, args.against.rstrip("/"), args.against_key, args.peer_pid)
        results = asyncio.run(run(plan, [dma, peer], args.profile, log))
    finally:
        system.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    names = ["dma", args.peer_name]
    print(table(rows(results, plan, names), names))
    load_after = os.getloadavg()
    print(
        f"\n{os.cpu_count()} cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{plan.rounds} rounds per block, alternating; {time.monotonic() - started:.0f} s"
    )
    if args.profile:
        for folded in sorted(args.profile.glob("*.folded")):
            print("\n" + "\n".join(summarize_profile(folded)))
    if args.json:
        args.json.write_text(json.dumps({"plan": plan.__dict__, "results": results}, indent=1, default=str))
    return 0
