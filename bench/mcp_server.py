"""A minimal MCP server for the MCP benchmark: one ``echo`` tool, bearer auth, streamable HTTP on loopback.

python -m bench.mcp_server --port 8900 --token T
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer


class _Verifier:
    def __init__(self, token: str) -> None:
        self._token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        return AccessToken(token=token, client_id="bench", scopes=[]) if token == self._token else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    settings = AuthSettings(issuer_url=base, resource_server_url=None, validate_token_resource=False)  # pyright: ignore[reportArgumentType]
    server = MCPServer("bench-mcp", token_verifier=_Verifier(args.token), auth=settings, log_level="WARNING")

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:  # pyright: ignore[reportUnusedFunction]
        return text

    app = server.streamable_http_app(stateless_http=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
