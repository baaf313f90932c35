"""Request guards that run before routing: size limits and NUL characters.

PostgreSQL text cannot hold NUL (U+0000), so a NUL anywhere in a query string or a JSON body would reach the driver
and fail as a 500. Rejecting it up front gives every route the same clear 400 on both databases.

Multipart bodies (file and skill uploads) are binary and may be far larger than any JSON body: they pass through
unbuffered, checked only against their declared length here; the upload routes stream them (``api.multipart``),
enforce their own limits as bytes arrive and check the text fields they read.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A JSON ``\\u0000`` escape, not preceded by an odd number of backslashes (which would make it literal text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# Room for a multipart body's boundaries, part headers and small fields on top of its file bytes.
MULTIPART_SLACK = 1024 * 1024


def _error(kind: str, message: str, request_id: str) -> bytes:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return json.dumps(body).encode()


class RequestGuard:
    """Pure ASGI (no buffering of responses, so SSE is untouched); buffers request bodies up to a limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_multipart_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_multipart_bytes = max_multipart_bytes or max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(scope.get("state", {}).get("request_id", ""))
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await self._reject(send, 400, "invalid_request_error", "query parameters may not contain NUL", request_id)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if _is_multipart(scope):
            if _declared_length(scope) > self.max_multipart_bytes:
                message = f"upload is larger than {self.max_multipart_bytes} bytes (DMA_MAX_UPLOAD_BYTES)"
                await self._reject(send, 413, "invalid_request_error", message, request_id)
                return
            await self.app(scope, receive, send)
            return
        too_large = f"request body is larger than {self.max_body_bytes} bytes (2 x DMA_MAX_REQUEST_EVENT_BYTES)"
        if _declared_length(scope) > self.max_body_bytes:
            await self._reject(send, 413, "invalid_request_error", too_large, request_id)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                await self._reject(send, 413, "invalid_request_error", too_large, request_id)
                return
        if b"\x00" in body or _JSON_NUL.search(body):
            await self._reject(send, 400, "invalid_request_error", "strings may not contain NUL (\\u0000)", request_id)
            return
        await self.app(scope, _replay(bytes(body)), send)

    @staticmethod
    async def _reject(send: Send, status: int, kind: str, message: str, request_id: str) -> None:
        payload = _error(kind, message, request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _declared_length(scope: Scope) -> int:
    """The request's ``content-length`` (0 when absent or unreadable; the streamed size is checked anyway)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return bytes(value).lower().startswith(b"multipart/form-data")
    return False


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
