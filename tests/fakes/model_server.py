"""A fake model server that speaks the Anthropic Messages and OpenAI Chat Completions wire formats over real HTTP.

It runs uvicorn in a background thread on 127.0.0.1 and a free port, so the real SDK clients in this process and in
worker subprocesses (pointed at it with `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`) can call it. Replies come from a
FIFO of scripted replies, then from the scripted model's planner (`plan_reply`, driven by `[[…]]` directives).

    with FakeModelServer() as server:
        server.enqueue(ScriptedReply(text="hi"), lambda body: ScriptedReply(text=str(len(body["messages"]))))
        client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
        ...
        server.wait_for_requests(2)

Callables (queued or default) receive the Anthropic-shaped body; OpenAI requests (Chat Completions and Responses)
are converted first. `RecordedRequest.body` keeps the body as sent.

Usage is that of a real provider with prompt caching (`PromptCache`): Anthropic requests read and write the prefixes
their `cache_control` breakpoints mark, OpenAI requests read the longest run of messages sent before. A model listed
in `context_windows` refuses (400, as the real APIs do) a request whose input plus `max_tokens` exceeds its window.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from activities.model.scripted import (
    ScriptedReply,
    ScriptedUsage,
    estimate_usage,
    openai_request_to_anthropic,
    plan_reply,
)
from activities.model.scripted_wire import (
    anthropic_error_json,
    anthropic_message_json,
    anthropic_sse_stream,
    error_headers,
    openai_chat_json,
    openai_error_json,
    openai_sse_stream,
    reply_duration,
)
from tests.fakes.prompt_cache import PromptCache
from tests.fakes.responses_wire import responses_json, responses_request_to_anthropic, responses_sse_stream

Body = dict[str, Any]
ReplySource = ScriptedReply | Callable[[Body], ScriptedReply]
MODEL_IDS = ("scripted", "scripted-echo", "claude-sonnet-4-5", "gpt-4o-mini")


@dataclass
class RecordedRequest:
    """One request the server received; times are `time.monotonic()` in the server's process."""

    method: str
    path: str
    headers: dict[str, str]
    body: Body
    arrived_at: float
    first_byte_at: float | None = None
    finished_at: float | None = None  # stays None when the client went away mid-stream


class FakeModelServer:
    """A scripted model server on a real socket; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Condition()
        self._queue: collections.deque[ReplySource] = collections.deque()
        self._default: Callable[[Body], ScriptedReply] = plan_reply
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._ids = 0
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.first_byte_times: list[float] = []
        self.prompt_cache = PromptCache()
        # Model id → context window (tokens); requests that do not fit are refused with a 400.
        self.context_windows: dict[str, int] = {}
        self._app = Starlette(routes=self._routes())

    @property
    def url(self) -> str:
        """The base URL, without `/v1` (what `ANTHROPIC_BASE_URL` takes; OpenAI clients append `/v1`)."""
        if not self._port:
            raise RuntimeError("FakeModelServer is not started")
        return f"http://{self._host}:{self._port}"

    def start(self) -> FakeModelServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._port = sock.getsockname()[1]
        self._stopping.clear()
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("FakeModelServer did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def enqueue(self, *replies: ReplySource) -> None:
        """Script the next replies, consumed one per model request (FIFO) before the default planner."""
        with self._lock:
            self._queue.extend(replies)

    def set_default(self, fn: Callable[[Body], ScriptedReply]) -> None:
        """Answer with `fn` whenever the queue is empty (instead of `plan_reply`)."""
        with self._lock:
            self._default = fn

    def reset(self) -> None:
        """Forget recorded requests and queued replies, and go back to `plan_reply`."""
        with self._lock:
            self._queue.clear()
            self._default = plan_reply
            self.requests.clear()
            self.first_byte_times.clear()
            self.context_windows.clear()
        self.prompt_cache.clear()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until `n` requests have arrived and return them; raise `TimeoutError` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"expected {n} model requests, got {len(self.requests)}")
            return list(self.requests)

    async def wait_for_requests_async(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Like `wait_for_requests`, without blocking the event loop of the calling test."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {n} model requests, got {len(self.requests)}")
            await asyncio.sleep(0.01)
        return list(self.requests)

    # --- server side (runs on the server thread) ---

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._app(scope, receive, send)
        except ClientDisconnect:
            pass  # a client that went away mid-request (e.g. a SIGKILLed worker) is not a server failure

    def _routes(self) -> list[Route]:
        routes: list[Route] = []
        for prefix in ("/v1", ""):
            routes += [
                Route(f"{prefix}/messages", self._anthropic, methods=["POST"]),
                Route(f"{prefix}/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route(f"{prefix}/chat/completions", self._openai, methods=["POST"]),
                Route(f"{prefix}/responses", self._responses, methods=["POST"]),
                Route(f"{prefix}/models", self._models, methods=["GET"]),
            ]
        return routes

    async def _record(self, request: Request) -> RecordedRequest:
        arrived_at = time.monotonic()
        body: Body = {}
        if request.method == "POST":
            try:
                parsed: object = await request.json()
            except ValueError:
                parsed = None
            body = cast(Body, parsed) if isinstance(parsed, dict) else {"_invalid_json": True}
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body, arrived_at)
        with self._lock:
            self.requests.append(recorded)
            self._lock.notify_all()
        return recorded

    def _next_reply(self, anthropic_body: Body, cached: tuple[int, int, int]) -> tuple[ScriptedReply, str]:
        """The next reply; unless scripted, its input usage is ``cached`` (uncached, cache read, cache written)."""
        with self._lock:
            source = self._queue.popleft() if self._queue else self._default
            self._ids += 1
            serial = self._ids
        reply = source if isinstance(source, ScriptedReply) else source(anthropic_body)
        estimated = estimate_usage(anthropic_body, reply)
        # Usage a test scripted stays as it is; the planner's estimate gets the prompt cache's input split.
        if reply.usage is None or reply.usage == estimated:
            usage = ScriptedUsage(cached[0], estimated.output_tokens, cached[1], cached[2])
            reply = replace(reply, usage=usage)
        return reply, f"{serial:06d}{time.time_ns() % 10**9:09d}"

    def _too_long(self, model: str, cached: tuple[int, ...], max_tokens: object) -> str | None:
        window = self.context_windows.get(model)
        asked = sum(cached) + (max_tokens if isinstance(max_tokens, int) else 0)
        if window is None or asked <= window:
            return None
        return f"prompt is too long: {sum(cached)} tokens + {max_tokens} max_tokens > {window} maximum"

    def _mark_first_byte(self, recorded: RecordedRequest) -> None:
        with self._lock:
            recorded.first_byte_at = time.monotonic()
            self.first_byte_times.append(recorded.first_byte_at)

    async def _timed(self, recorded: RecordedRequest, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if self._stopping.is_set():
                return  # cut in-flight streams so uvicorn shuts down gracefully instead of cancelling them
            if recorded.first_byte_at is None:
                self._mark_first_byte(recorded)
            yield chunk
        recorded.finished_at = time.monotonic()

    async def _answer(self, recorded: RecordedRequest, reply: ScriptedReply, response: Response) -> Response:
        await asyncio.sleep(reply.first_byte_delay if reply.error_status else reply_duration(reply))
        self._mark_first_byte(recorded)
        recorded.finished_at = time.monotonic()
        return response

    async def _anthropic(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.body.get("_invalid_json"):
            return JSONResponse(anthropic_error_json(400, "body is not a JSON object"), status_code=400)
        model = str(recorded.body.get("model") or "scripted")
        cached = self.prompt_cache.anthropic(recorded.body)
        if too_long := self._too_long(model, cached, recorded.body.get("max_tokens")):
            return JSONResponse(anthropic_error_json(400, too_long), status_code=400)
        reply, serial = self._next_reply(recorded.body, cached)
        if reply.error_status is not None:
            error = anthropic_error_json(reply.error_status, reply.error_message)
            response = JSONResponse(error, status_code=reply.error_status, headers=error_headers(reply))
            return await self._answer(recorded, reply, response)
        if recorded.body.get("stream"):
            chunks = self._timed(recorded, anthropic_sse_stream(reply, model, f"msg_fake_{serial}"))
            return StreamingResponse(chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        body = anthropic_message_json(reply, model, f"msg_fake_{serial}")
        return await self._answer(recorded, reply, JSONResponse(body))

    async def _openai(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.body.get("_invalid_json"):
            return JSONResponse(openai_error_json(400, "body is not a JSON object"), status_code=400)
        model = str(recorded.body.get("model") or "scripted")
        uncached, hit = self.prompt_cache.openai(recorded.body)
        asked = recorded.body.get("max_completion_tokens") or recorded.body.get("max_tokens")
        if too_long := self._too_long(model, (uncached, hit), asked):
            return JSONResponse(openai_error_json(400, too_long), status_code=400)
        reply, serial = self._next_reply(openai_request_to_anthropic(recorded.body), (uncached, hit, 0))
        if reply.error_status is not None:
            error = openai_error_json(reply.error_status, reply.error_message)
            response = JSONResponse(error, status_code=reply.error_status, headers=error_headers(reply))
            return await self._answer(recorded, reply, response)
        if recorded.body.get("stream"):
            options: Body = recorded.body.get("stream_options") or {}
            include_usage = bool(options.get("include_usage"))
            stream = openai_sse_stream(reply, model, include_usage=include_usage, completion_id=f"chatcmpl-{serial}")
            return StreamingResponse(self._timed(recorded, stream), media_type="text/event-stream")
        body = openai_chat_json(reply, model, f"chatcmpl-{serial}")
        return await self._answer(recorded, reply, JSONResponse(body))

    async def _responses(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.body.get("_invalid_json"):
            return JSONResponse(openai_error_json(400, "body is not a JSON object"), status_code=400)
        model = str(recorded.body.get("model") or "scripted")
        uncached, hit = self.prompt_cache.openai(recorded.body)
        if too_long := self._too_long(model, (uncached, hit), recorded.body.get("max_output_tokens")):
            return JSONResponse(openai_error_json(400, too_long), status_code=400)
        reply, serial = self._next_reply(responses_request_to_anthropic(recorded.body), (uncached, hit, 0))
        if reply.error_status is not None:
            error = openai_error_json(reply.error_status, reply.error_message)
            response = JSONResponse(error, status_code=reply.error_status, headers=error_headers(reply))
            return await self._answer(recorded, reply, response)
        usage = reply.usage or ScriptedUsage(uncached, 1, hit)
        if recorded.body.get("stream"):
            stream = responses_sse_stream(reply, model, f"resp_{serial}", usage)
            return StreamingResponse(self._timed(recorded, stream), media_type="text/event-stream")
        return await self._answer(recorded, reply, JSONResponse(responses_json(reply, model, f"resp_{serial}", usage)))

    async def _count_tokens(self, request: Request) -> Response:
        recorded = await self._record(request)
        return JSONResponse({"input_tokens": estimate_usage(recorded.body, ScriptedReply()).input_tokens})

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        # One list both SDKs parse: Anthropic's fields and OpenAI's side by side.
        models = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            | {"object": "model", "created": 1735689600, "owned_by": "dma-fake"}
            for m in MODEL_IDS
        ]
        page = {"data": models, "has_more": False, "first_id": MODEL_IDS[0], "last_id": MODEL_IDS[-1]}
        return JSONResponse({"object": "list", **page})
