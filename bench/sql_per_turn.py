"""SQL statements and transactions per plain turn, counted inside the process (API + worker, as ``dma dev`` runs them).

    python -m bench.sql_per_turn [--turns 10] [--sessions 1] [--postgres URL]

Runs the test stack (``tests/stack.py``: API and worker on one event loop, a Temporal dev server, the fake model)
and counts every statement SQLAlchemy sends, by kind, over the turns (after one warm-up turn per session), with one
SSE stream open per session. Needs a source checkout with ``tests/`` (it is not part of ``dma bench``'s figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from dma.store import migrate
from tests.fakes.model_server import FakeModelServer
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

STREAM_READ = "session_events.seq >"


class Counts:
    """Statements by kind and transactions, from SQLAlchemy's engine events (thread-safe: the worker uses threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: Counter[str] = Counter()

    def statement(self, _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        kind = statement.lstrip().split(None, 1)[0].upper()
        if kind == "SELECT" and STREAM_READ in statement and "LIMIT" in statement.upper():
            kind = "SELECT (SSE log read)"
        with self.lock:
            self.kinds[kind] += 1

    def begin(self, _conn: Any) -> None:
        with self.lock:
            self.kinds["transactions"] += 1


async def _turns(base_url: str, sessions: int, turns: int, counts: Counts) -> dict[str, float]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
        agent = (await http.post("/v1/agents", json={"name": "b", "model": "claude-sonnet-4-6"})).json()["id"]
        env_body = {"name": "b", "config": {"type": "cloud", "networking": {"type": "unrestricted"}}}
        env = (await http.post("/v1/environments", json=env_body)).json()["id"]

        async def one(warm: asyncio.Barrier, go: asyncio.Barrier, done: asyncio.Barrier) -> None:
            session = (await http.post("/v1/sessions", json={"agent": agent, "environment_id": env})).json()["id"]
            async with http.stream("GET", f"/v1/sessions/{session}/events/stream") as stream:
                lines = stream.aiter_lines()
                for turn in range(turns + 1):
                    if turn == 1:
                        await warm.wait()  # every session's warm-up turn is done
                        await go.wait()  # and the counters were reset after its tail settled
                    message = {"type": "user.message", "content": [{"type": "text", "text": f"turn {turn}"}]}
                    (await http.post(f"/v1/sessions/{session}/events", json={"events": [message]})).raise_for_status()
                    async for line in lines:
                        if line.startswith("event: session.status_idle"):
                            break
                await done.wait()

        warm, go, done = (asyncio.Barrier(sessions + 1) for _ in range(3))
        jobs = [asyncio.create_task(one(warm, go, done)) for _ in range(sessions)]
        await warm.wait()
        await asyncio.sleep(0.5)  # the warm-up turn's tail (its last workflow task) settles
        with counts.lock:
            counts.kinds.clear()
        await go.wait()
        await done.wait()
        await asyncio.gather(*jobs)
    total = sessions * turns
    return {kind: round(n / total, 2) for kind, n in sorted(counts.kinds.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=1)
    args = parser.parse_args()
    directory = traversable_dir("dma-sql-per-turn-")
    temporal_dir = Path(tempfile.mkdtemp(prefix="dma-sql-temporal-"))
    url = f"sqlite+aiosqlite:///{directory / 'dma.db'}"
    migrate.upgrade(url)
    temporal, model = TemporalDevServer(temporal_dir), FakeModelServer()
    temporal.start()
    model.start()
    stack = Stack(url, temporal.address, model.url, directory).start()
    try:
        assert stack.db is not None
        counts = Counts()
        engines = {stack.db.writer.sync_engine, stack.db.reader.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", counts.statement)
            event.listen(engine, "begin", counts.begin)
        per_turn = asyncio.run(_turns(stack.base_url, args.sessions, args.turns, counts))
        print(json.dumps({"sessions": args.sessions, "turns": args.turns, "per_turn": per_turn}, indent=1))
    finally:
        stack.stop()
        model.stop()
        temporal.stop()
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(temporal_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
