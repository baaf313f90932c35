"""A lean async client of the dma API for the benchmark: plain httpx, and an SSE reader that stamps every frame.

The official SDK parses every frame into pydantic models; on a 2-core machine that client cost would land in the
figures (the driver shares the cores with dma). This client does only what a turn needs and stamps each frame with
``time.monotonic()`` the moment its ``data:`` line arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

TURN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Frame:
    """One SSE frame and when it arrived."""

    at: float
    name: str
    data: dict[str, Any]


@dataclass
class TurnTiming:
    """What one turn looked like from the client."""

    prompt: str
    sent: float
    sent_wall: float
    posted: float = 0.0
    idle: float = 0.0
    first_delta: float | None = None
    frames: list[Frame] = field(default_factory=list[Frame])

    @property
    def latency(self) -> float:
        return self.idle - self.sent


class Api:
    """The REST calls a benchmark needs."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(TURN_TIMEOUT, connect=30.0),
            # uvicorn drops keep-alive connections idle for 5 s; reusing one as it closes fails the request.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=2.0),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    async def create_agent(self, model: str, tools: list[dict[str, Any]] | None = None) -> str:
        body: dict[str, Any] = {"name": "bench", "model": model}
        if tools:
            body["tools"] = tools
        return str((await self._post("/v1/agents", body))["id"])

    async def create_environment(self) -> str:
        body = {"name": "bench", "config": {"type": "cloud", "networking": {"type": "unrestricted"}}}
        return str((await self._post("/v1/environments", body))["id"])

    async def create_session(self, agent_id: str, environment_id: str, first_message: str | None = None) -> str:
        body: dict[str, Any] = {"agent": agent_id, "environment_id": environment_id}
        if first_message is not None:
            body["initial_events"] = [{"type": "user.message", "content": [{"type": "text", "text": first_message}]}]
        return str((await self._post("/v1/sessions", body))["id"])

    async def busy_sessions(self, agent_id: str) -> int:
        """How many of the agent's sessions are running or rescheduling (0 or 1: enough to wait for none)."""
        params = {"agent_id": agent_id, "statuses[]": ["running", "rescheduling"], "limit": "1"}
        response = await self.http.get("/v1/sessions", params=params)
        response.raise_for_status()
        return len(response.json()["data"])

    async def send(self, session_id: str, text: str) -> None:
        event = {"type": "user.message", "content": [{"type": "text", "text": text}]}
        await self._post(f"/v1/sessions/{session_id}/events", {"events": [event]})

    async def events(self, session_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"/v1/sessions/{session_id}/events", params={"limit": "1000"})
        response.raise_for_status()
        return list(response.json()["data"])

    def stream(self, session_id: str, deltas: bool = False) -> EventStream:
        return EventStream(self.http, session_id, deltas)


class EventStream:
    """An open ``/events/stream`` connection whose frames a background task queues, stamped on arrival."""

    def __init__(self, http: httpx.AsyncClient, session_id: str, deltas: bool) -> None:
        self._http = http
        self.session_id = session_id
        self._params = {"event_deltas[]": "agent.message"} if deltas else {}
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._read())
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait([opened, self._task], timeout=TURN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if not self._opened.is_set():
            opened.cancel()
            await self._close_task()
            raise RuntimeError(f"the event stream of {self.session_id} did not open")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close_task()

    async def _close_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    async def _read(self) -> None:
        path = f"/v1/sessions/{self.session_id}/events/stream"
        async with self._http.stream("GET", path, params=self._params) as response:
            response.raise_for_status()
            name = ""
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self._opened.set()
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self._frames.put_nowait(Frame(time.monotonic(), name, json.loads(line[6:])))

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            yield await asyncio.wait_for(self._frames.get(), timeout=TURN_TIMEOUT)

    async def turn(self, api: Api, prompt: str) -> TurnTiming:
        """Send ``prompt`` as a user message and wait for ``session.status_idle``."""
        timing = TurnTiming(prompt=prompt, sent=time.monotonic(), sent_wall=time.time())
        await api.send(self.session_id, prompt)
        timing.posted = time.monotonic()
        async for frame in self.frames():
            timing.frames.append(frame)
            if frame.name == "event_delta" and timing.first_delta is None:
                timing.first_delta = frame.at
            if frame.name == "session.status_idle":
                timing.idle = frame.at
                return timing
            if frame.name in ("session.status_terminated", "session.deleted"):
                raise RuntimeError(f"session {self.session_id} ended during a turn: {frame.name}")
        raise AssertionError("unreachable")
