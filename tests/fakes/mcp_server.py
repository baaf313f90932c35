"""A real MCP server built with the official ``mcp`` SDK, on loopback over streamable HTTP, and an OAuth token endpoint.

Tools: ``echo`` (text), ``add`` (structured content), ``fail`` (an ``isError`` result), ``slow`` (sleeps, to be
interrupted), ``image`` (a PNG), ``document`` (an embedded text resource). Every MCP request needs
``Authorization: Bearer <token>`` with a token the server accepts (checked by the SDK's bearer middleware, which
answers 401 otherwise). ``POST /oauth/token`` is a refresh-token endpoint: it accepts the current refresh token
(``none``, ``client_secret_basic`` or ``client_secret_post`` client auth), issues a new access and refresh token and
forgets the old ones. ``stop()`` then ``start()`` brings the server down and back on the same port.

    with FakeMcpServer(tokens={"t0"}) as server:
        url = server.mcp_url   # http://127.0.0.1:<port>/mcp
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp_types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class OAuthClient:
    """What the token endpoint expects of a client."""

    client_id: str
    refresh_token: str
    client_secret: str | None = None
    auth_method: str = "none"


@dataclass
class _State:
    tokens: set[str]
    clients: list[OAuthClient] = field(default_factory=list[OAuthClient])
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list[tuple[str, dict[str, Any]]])
    rejected: int = 0
    refreshes: int = 0
    refresh_delay: float = 0.0
    slow_started: int = 0
    slow_finished: int = 0
    issued: list[str] = field(default_factory=list[str])
    authorizations: list[str] = field(default_factory=list[str])


class _Verifier:
    def __init__(self, state: _State) -> None:
        self._state = state

    async def verify_token(self, token: str) -> AccessToken | None:
        self._state.authorizations.append(token)
        if token in self._state.tokens:
            return AccessToken(token=token, client_id="fake", scopes=[])
        self._state.rejected += 1
        return None


def _build(state: _State, base_url: str) -> MCPServer:
    server = MCPServer(
        "fake-mcp",
        token_verifier=_Verifier(state),
        auth=AuthSettings(issuer_url=base_url, resource_server_url=None, validate_token_resource=False),  # pyright: ignore[reportArgumentType]
    )

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("echo", {"text": text}))
        return f"echo: {text}"

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> dict[str, int]:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("add", {"a": a, "b": b}))
        return {"sum": a + b}

    @server.tool(description="Always fails with the given reason.")
    def fail(reason: str) -> str:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("fail", {"reason": reason}))
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool(description="Sleep for a while, then say so.")
    async def slow(seconds: float) -> str:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("slow", {"seconds": seconds}))
        state.slow_started += 1
        await asyncio.sleep(seconds)
        state.slow_finished += 1
        return f"slept {seconds}"

    @server.tool(description="Return a tiny PNG image.")
    def image() -> Image:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("image", {}))
        return Image(data=PNG, format="png")

    @server.tool(description="Return a text document as an embedded resource.")
    def document() -> CallToolResult:  # pyright: ignore[reportUnusedFunction]
        state.calls.append(("document", {}))
        resource = TextResourceContents(uri="memo://notes", mime_type="text/plain", text="the notes")
        return CallToolResult(content=[TextContent(text="see attached"), EmbeddedResource(resource=resource)])

    @server.custom_route("/oauth/token", methods=["POST"])
    async def token(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return await _refresh(state, request)

    return server


def _client_of(request: Request, form: dict[str, str], state: _State) -> OAuthClient | None:
    header = request.headers.get("authorization", "")
    basic_id = basic_secret = None
    if header.lower().startswith("basic "):
        basic_id, _, basic_secret = base64.b64decode(header[6:]).decode().partition(":")
    for client in state.clients:
        if client.refresh_token != form.get("refresh_token"):
            continue
        if client.auth_method == "client_secret_basic" and (basic_id, basic_secret) == (
            client.client_id,
            client.client_secret,
        ):
            return client
        if client.auth_method == "client_secret_post" and (form.get("client_id"), form.get("client_secret")) == (
            client.client_id,
            client.client_secret,
        ):
            return client
        if client.auth_method == "none" and form.get("client_id") == client.client_id:
            return client
    return None


async def _refresh(state: _State, request: Request) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    state.refreshes += 1
    if state.refresh_delay:
        await asyncio.sleep(state.refresh_delay)
    client = _client_of(request, form, state) if form.get("grant_type") == "refresh_token" else None
    if client is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    access, refresh = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
    state.tokens.add(access)
    state.issued += [access, refresh]
    client.refresh_token = refresh
    return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh})


class FakeMcpServer:
    """The fake MCP server on a real socket; see the module docstring."""

    def __init__(self, tokens: set[str] | None = None, host: str = "127.0.0.1", transport: str = "streamable") -> None:
        self.state = _State(tokens=set(tokens or set()))
        self.transport = transport
        self.server: MCPServer | None = None
        self._host = host
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/sse" if self.transport == "sse" else f"{self.base_url}/mcp"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def start(self) -> FakeMcpServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self.server = _build(self.state, self.base_url)
        if self.transport == "sse":
            app = self.server.sse_app(host=self._host)
        else:
            app = self.server.streamable_http_app(stateless_http=True, host=self._host)
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-mcp-server"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("FakeMcpServer did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeMcpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_client(self, client: OAuthClient) -> None:
        self.state.clients.append(client)

    def revoke(self, token: str) -> None:
        self.state.tokens.discard(token)

    def calls_of(self, tool: str) -> list[dict[str, Any]]:
        return [arguments for name, arguments in self.state.calls if name == tool]
