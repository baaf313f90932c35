"""A fault-injection rig: ``dma api`` and ``dma worker`` as killable subprocesses, 20 sessions mid-turn, streaming
clients that reconnect with ``Last-Event-ID``, and the invariants every fault must leave intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from activities.model.scripted import plan_reply
from tests.fakes.model_server import FakeModelServer, RecordedRequest
from tests.processes import DmaProcess
from tests.stack import API_KEY, SECRET_KEY, TemporalDevServer, free_port

SESSIONS = 20
SLOW = "[[slow:4]]"  # each reply streams for four seconds, so every fault lands mid-turn
RECOVERY_TIMEOUT = 75.0


@dataclass
class Watcher:
    """One client: streams a session's events, reconnecting with ``Last-Event-ID`` until the turn ends."""

    session_id: str
    token: str
    seen: list[str] = field(default_factory=list[str])
    reconnects: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    running: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self, http: httpx.AsyncClient) -> None:
        path = f"/v1/sessions/{self.session_id}/events/stream"
        while True:
            headers = {"last-event-id": self.seen[-1]} if self.seen else {}
            try:
                async with http.stream("GET", path, headers=headers, timeout=httpx.Timeout(30, connect=2)) as stream:
                    if stream.status_code == 200 and await self._read(stream):
                        return
            except (httpx.HTTPError, OSError):
                pass  # the API died, or the DB under it: reconnect, resuming after the last event we saw
            self.reconnects += 1
            await asyncio.sleep(0.2)

    async def _read(self, stream: httpx.Response) -> bool:
        """Read frames until the turn ends (True) or the stream does (False)."""
        event_id = name = ""
        async for line in stream.aiter_lines():
            if line.startswith(":"):
                self.opened.set()
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and event_id:
                try:
                    data = json.loads(line[6:])
                except ValueError:
                    return False  # a frame cut by the kill: resume from the last whole one
                self.seen.append(event_id)
                event_id = ""
                if name == "span.model_request_start":
                    self.running.set()
                if name == "session.status_idle" and data["stop_reason"]["type"] == "end_turn":
                    return True
        return False


@dataclass
class FaultRig:
    """The processes of one fault scenario, on one database."""

    backend: str
    database_url: str
    temporal: TemporalDevServer
    model: FakeModelServer
    directory: Path
    task_queue: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    api_port: int = field(default_factory=free_port)
    api: DmaProcess | None = None
    workers: list[DmaProcess] = field(default_factory=list[DmaProcess])
    logs: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DMA_DATABASE_URL": self.database_url,
            "DMA_TEMPORAL_ADDRESS": self.temporal.address,
            "DMA_TASK_QUEUE": self.task_queue,
            "DMA_DATA_DIR": str(self.directory),
            "DMA_API_KEYS": API_KEY,
            "DMA_SECRET_KEY": SECRET_KEY,
            "ANTHROPIC_API_KEY": "fake-key",
            "ANTHROPIC_BASE_URL": self.model.url,
        }

    def _log(self, name: str) -> Path:
        self.logs += 1
        return self.directory / f"{self.logs:02d}-{name}.log"

    def start_api(self) -> DmaProcess:
        self.api = DmaProcess(["api", "--port", str(self.api_port)], self.env(), self._log("api"))
        return self.api.start(wait_port=self.api_port)

    def start_worker(self) -> DmaProcess:
        worker = DmaProcess(["worker"], self.env(), self._log("worker")).start()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            process.stop()

    def http(self) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {API_KEY}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def start_turns(self, http: httpx.AsyncClient) -> tuple[list[Watcher], list[asyncio.Task[None]]]:
        """Create the sessions, open a stream on each, then send each one slow message."""
        agent = (await http.post("/v1/agents", json={"name": "faults", "model": "claude-sonnet-4-6"})).json()
        env = (await http.post("/v1/environments", json={"name": "faults", "config": {"type": "cloud"}})).json()
        watchers: list[Watcher] = []
        for _ in range(SESSIONS):
            created = await http.post("/v1/sessions", json={"agent": agent["id"], "environment_id": env["id"]})
            created.raise_for_status()
            watchers.append(Watcher(created.json()["id"], uuid.uuid4().hex))
        tasks = [asyncio.create_task(w.watch(http)) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.opened.wait() for w in watchers)), timeout=30)
        for w in watchers:
            message = {"type": "user.message", "content": [{"type": "text", "text": f"{SLOW} {w.token}"}]}
            sent = await http.post(f"/v1/sessions/{w.session_id}/events", json={"events": [message]})
            sent.raise_for_status()
        return watchers, tasks

    def requests_for(self, token: str) -> list[RecordedRequest]:
        return [r for r in list(self.model.requests) if token in json.dumps(r.body.get("messages"))]

    async def all_streaming(self, watchers: list[Watcher], timeout: float = 30) -> None:
        """Wait until the model is streaming a reply to every session."""
        deadline = time.monotonic() + timeout
        while not all(self.requests_for(w.token) for w in watchers):
            assert time.monotonic() < deadline, "not every session reached the model"
            await asyncio.sleep(0.05)

    def assert_all_mid_turn(self, watchers: list[Watcher], at: float) -> None:
        """Every session's model reply was streaming at ``at`` (a ``time.monotonic()`` taken at the fault)."""
        streaming = [
            w
            for w in watchers
            if any(
                r.arrived_at <= at and (r.finished_at is None or r.finished_at >= at)
                for r in self.requests_for(w.token)
            )
        ]
        assert len(streaming) == len(watchers), f"only {len(streaming)} of {len(watchers)} sessions were mid-turn"

    async def finish(self, tasks: list[asyncio.Task[None]]) -> None:
        """Every client sees its turn end (after reconnecting as often as it had to)."""
        done, pending = await asyncio.wait(tasks, timeout=RECOVERY_TIMEOUT)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
        assert not pending, f"{len(pending)} of {len(tasks)} sessions never went idle; logs in {self.directory}"

    async def check(self, http: httpx.AsyncClient, watchers: list[Watcher]) -> None:
        """The invariants: see ``assert_session_intact``."""
        for watcher in watchers:
            listed = await http.get(f"/v1/sessions/{watcher.session_id}/events", params={"limit": "1000"})
            listed.raise_for_status()
            assert_session_intact(watcher, listed.json()["data"], self.requests_for(watcher.token))


def message_text(event: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in event.get("content", []) if block.get("type") == "text")


def assert_session_intact(watcher: Watcher, events: list[dict[str, Any]], requests: list[RecordedRequest]) -> None:
    """After a fault: the turn ended, exactly one ``agent.message``, no event twice, no answer lost, no gap.

    The fake model is deterministic, so a retried request answers the same text: every response the model completed
    must be the text of the session's one persisted ``agent.message``.
    """
    sid = watcher.session_id
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)), f"{sid}: an event id appears twice in the log"
    assert len(watcher.seen) == len(set(watcher.seen)), f"{sid}: the stream delivered an event twice"
    assert watcher.seen == ids, f"{sid}: the (reconnected) stream missed or reordered events"
    last = events[-1]
    assert last["type"] == "session.status_idle" and last["stop_reason"]["type"] == "end_turn", f"{sid}: {last}"
    messages = [event for event in events if event["type"] == "agent.message"]
    assert len(messages) == 1, f"{sid}: {len(messages)} agent.message events for one turn"
    completed = [r for r in requests if r.finished_at is not None]
    assert completed, f"{sid}: the model never completed a reply"
    answered = {plan_reply(r.body).text for r in completed}
    assert answered == {message_text(messages[0])}, f"{sid}: the model answered {answered}, the log holds {messages}"
