"""The benchmark's model: the Anthropic Messages API answered at once by the scripted model, as its own process.

It runs apart from dma and from the benchmark driver, so neither pays for it in CPU or in GIL time. Every request is
recorded with ``time.monotonic()`` stamps (CLOCK_MONOTONIC, shared by every process on the machine, so the driver
can subtract them from its own) and wall-clock stamps (to line them up with Temporal history event times):

    python -m bench.fake_model --port 8999
    GET  /_bench/requests   every recorded request (JSON)
    GET  /_bench/count      how many requests arrived
    POST /_bench/reset      forget them

``first_byte`` is when the first ``content_block_delta`` (the first token) was written, ``first_chunk`` when the
first byte of the response was. Replies follow the scripted model's ``[[…]]`` directives
(``activities/model/scripted.py``); without one they are instant.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from activities.model.scripted import plan_reply
from activities.model.scripted_wire import anthropic_message_json, anthropic_sse_stream


@dataclass
class Recorded:
    """One model request as the model saw it."""

    prompt: str
    arrived: float
    arrived_wall: float
    first_chunk: float | None = None
    first_byte: float | None = None
    finished: float | None = None
    finished_wall: float | None = None
    text: str = ""
    stop_reason: str = ""


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message: the benchmark puts a unique token in it."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        items: list[Any] = list(content or [])
        blocks: list[dict[str, Any]] = [item for item in items if isinstance(item, dict)]
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    return ""


class FakeModel:
    """The ASGI app and its recordings."""

    def __init__(self) -> None:
        self.recorded: list[Recorded] = []
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/_bench/requests", self.requests, methods=["GET"]),
                Route("/_bench/count", self.count, methods=["GET"]),
                Route("/_bench/reset", self.reset, methods=["POST"]),
            ]
        )

    async def messages(self, request: Request) -> Response:
        arrived, arrived_wall = time.monotonic(), time.time()
        body: dict[str, Any] = await request.json()
        entry = Recorded(prompt=last_user_text(body), arrived=arrived, arrived_wall=arrived_wall)
        self.recorded.append(entry)
        reply = plan_reply(body)
        entry.text, entry.stop_reason = reply.text, reply.stop_reason
        model = str(body.get("model") or "scripted")
        message_id = f"msg_bench_{len(self.recorded):08d}"
        if not body.get("stream"):
            entry.first_chunk = entry.first_byte = entry.finished = time.monotonic()
            entry.finished_wall = time.time()
            return JSONResponse(anthropic_message_json(reply, model, message_id))
        return StreamingResponse(self._timed(entry, anthropic_sse_stream(reply, model, message_id)))

    async def _timed(self, entry: Recorded, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            now = time.monotonic()
            if entry.first_chunk is None:
                entry.first_chunk = now
            if entry.first_byte is None and chunk.startswith(b"event: content_block_delta"):
                entry.first_byte = now
            yield chunk
        entry.finished, entry.finished_wall = time.monotonic(), time.time()

    async def requests(self, _: Request) -> Response:
        return JSONResponse([asdict(entry) for entry in self.recorded])

    async def count(self, _: Request) -> Response:
        return JSONResponse({"requests": len(self.recorded)})

    async def reset(self, _: Request) -> Response:
        self.recorded.clear()
        return JSONResponse({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = FakeModel().app
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
