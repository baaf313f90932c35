"""Canary secrets in all three credential types never show up anywhere but at the MCP server they are meant for.

One session uses a ``static_bearer`` and an ``mcp_oauth`` credential (the OAuth one refreshes, so its refresh token
and client secret are used too) and carries an ``environment_variable`` credential; it also runs ``env`` and reads
every ``/proc/*/environ`` in its sandbox. Then every place a secret could leak to is searched for each canary (and
for the tokens the refresh issued, and the root key): every API response, every event row, the logs of this process
(worker and API, at DEBUG), the Temporal history of every run of the session and of the credential probe, the
sandbox's output, the model's requests, and the raw database: the SQLite file with its WAL, or a COPY of every
PostgreSQL table.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import psycopg
import pytest
from sqlmodel import select
from temporalio.client import Client

from dma.store.tables import SessionEvent
from dma.temporal import connect_client
from tests.api.log_lines import LogLines
from tests.api.mcp_helpers import mcp_call, of_type, send, turns_ended, wait_until
from tests.fakes.mcp_server import FakeMcpServer, OAuthClient
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session
from tests.stack import API_KEY, SECRET_KEY, Stack

SANDBOX_ENV = "env; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null; echo ENV-DONE"


@pytest.fixture
def recording_client(stack: Stack) -> Iterator[tuple[anthropic.Anthropic, list[bytes]]]:
    """The SDK in strict mode, keeping the body of every response it receives."""
    bodies: list[bytes] = []

    def keep(response: httpx2.Response) -> None:
        bodies.append(response.read())

    http = httpx2.Client(event_hooks={"response": [keep]}, timeout=60)
    sdk = anthropic.Anthropic(
        api_key=API_KEY, base_url=stack.base_url, http_client=http, _strict_response_validation=True
    )
    with sdk:
        yield sdk, bodies


def test_canaries_never_leak(
    recording_client: tuple[anthropic.Anthropic, list[bytes]],
    stack: Stack,
    model_server: FakeModelServer,
    debug_logs: LogLines,
) -> None:
    client, bodies = recording_client
    canary = "CANARY" + secrets.token_hex(8)
    parts = ("static", "access", "refresh", "client", "env")
    static_token, access, refresh, client_secret, env_value = (f"{canary}-{part}" for part in parts)
    with FakeMcpServer(tokens={static_token}) as server:
        server.add_client(OAuthClient("canary-client", refresh, client_secret, "client_secret_basic"))
        oauth_url = server.mcp_url.replace("127.0.0.1", "localhost")
        vault = client.beta.vaults.create(display_name="canary")
        static_auth = {"type": "static_bearer", "token": static_token, "mcp_server_url": server.mcp_url}
        oauth_auth = {
            "type": "mcp_oauth",
            "access_token": access,
            "mcp_server_url": oauth_url,
            "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "refresh": {
                "client_id": "canary-client",
                "refresh_token": refresh,
                "token_endpoint": server.token_url,
                "token_endpoint_auth": {"type": "client_secret_basic", "client_secret": client_secret},
            },
        }
        env_auth = {
            "type": "environment_variable",
            "secret_name": "CANARY_TOKEN",
            "secret_value": env_value,
            "networking": {"type": "unrestricted"},
        }
        created = [
            client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
            for auth in (static_auth, oauth_auth, env_auth)
        ]
        rotated = {"type": "environment_variable", "secret_value": env_value + "2"}
        client.beta.vaults.credentials.update(created[2].id, vault_id=vault.id, auth=rotated)  # type: ignore[arg-type]
        servers = [
            {"type": "url", "name": "docs", "url": server.mcp_url},
            {"type": "url", "name": "oauth", "url": oauth_url},
        ]
        allow = {"permission_policy": {"type": "always_allow"}}
        tools = [
            {"type": "agent_toolset_20260401"},
            {"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": allow},
            {"type": "mcp_toolset", "mcp_server_name": "oauth", "default_config": allow},
        ]
        agent = make_agent(client, tools=tools, mcp_servers=servers)
        session = make_session(client, agent=agent.id, vault_ids=[vault.id])
        model_server.reset()
        calls = mcp_call("echo", {"text": "one"}) + mcp_call("echo", {"text": "two"}, server="oauth")
        send(client, session.id, calls + f"[[tool:bash {json.dumps({'command': SANDBOX_ENV})}]]")
        events = wait_until(client, session.id, turns_ended(1), timeout=90)
        client.beta.vaults.credentials.mcp_oauth_validate(created[1].id, vault_id=vault.id)
        for credential in created:
            client.beta.vaults.credentials.retrieve(credential.id, vault_id=vault.id)
        list(client.beta.vaults.credentials.list(vault.id))
        client.beta.vaults.archive(vault.id)
        issued = list(server.state.issued)
        seen_by_server = set(server.state.authorizations)

    results = of_type(events, "agent.mcp_tool_result")
    assert [r.content[0].text for r in results] == ["echo: one", "echo: two"], "both credentials worked"
    assert static_token in seen_by_server and issued, "the OAuth credential was refreshed and used"
    shell = of_type(events, "agent.tool_result")[0].content[0].text
    assert "PATH=" in shell and "ENV-DONE" in shell, "the sandbox's environment was read"

    needles = [canary, *issued, SECRET_KEY.split(":", 1)[1], base64.b64decode(SECRET_KEY.split(":", 1)[1]).hex()]
    places: dict[str, str] = {
        "API responses": b"\n".join(bodies).decode(errors="replace"),
        "sandbox env": shell,
        "model requests": "\n".join(repr(r.body) for r in model_server.requests),
        "event rows": stack.run(_event_rows(stack, session.id)),
        "logs": "\n".join(debug_logs.lines),
        "Temporal history": stack.run(_histories(stack, session.id, created[1].id)),
        "database": _database_dump(stack),
    }
    assert "DEBUG" in places["logs"] and server.mcp_url in places["logs"], "the worker's DEBUG logs were captured"
    history = places["Temporal history"]
    assert "run_mcp_tool" in history and '"mcp_server_name":"oauth"' in history, "payloads were decoded"
    assert "vault_credentials" in places["database"] or created[0].id in places["database"]
    for where, text in places.items():
        for needle in needles:
            assert needle not in text, f"a secret leaked into {where}"


async def _event_rows(stack: Stack, session_id: str) -> str:
    assert stack.db is not None
    async with stack.db.read() as db:
        rows = (await db.exec(select(SessionEvent).where(SessionEvent.session_id == session_id))).all()
    return "\n".join(f"{row.type} {row.body!r} {row.extra!r}" for row in rows)


async def _histories(stack: Stack, session_id: str, credential_id: str) -> str:
    temporal: Client = await connect_client(stack.temporal_address, "default")
    texts: list[str] = []
    deadline = time.monotonic() + 20
    for workflow_id in (session_id, f"probe-{credential_id}"):
        query = (
            f"WorkflowId = '{session_id}'" if workflow_id == session_id else f"WorkflowId STARTS_WITH '{workflow_id}'"
        )
        runs: list[Any] = []
        while not runs and time.monotonic() < deadline:
            runs = [run async for run in temporal.list_workflows(query)]
            await asyncio.sleep(0 if runs else 0.2)
        assert runs, f"no workflow runs for {workflow_id}"
        for run in runs:
            history = await temporal.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
            texts.append(history.to_json())
            texts.extend(_payloads(json.loads(texts[-1])))
    return "\n".join(texts)


def _payloads(value: Any) -> Iterator[str]:
    """Every payload of a history, decoded: the JSON form carries them base64-encoded."""
    if isinstance(value, dict):
        fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType] - JSON
        for key, item in fields.items():
            if key == "data" and isinstance(item, str):
                yield base64.b64decode(item).decode(errors="replace")
            else:
                yield from _payloads(item)
    elif isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType] - JSON
        for item in items:
            yield from _payloads(item)


def _database_dump(stack: Stack) -> str:
    if stack.database_url.startswith("sqlite"):
        path = Path(stack.database_url.split("///", 1)[1])
        files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
        # Read by a child process: closing a descriptor of the database file in this process would drop the POSIX
        # locks of this process's SQLite connections, and a worker process sharing the file could then decide it is
        # the last user and delete the WAL under them (the file would read as corrupt to everyone after).
        raw = subprocess.run(["cat", *files], check=True, capture_output=True).stdout
        return raw.decode("latin-1")
    libpq = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    chunks: list[str] = []
    with psycopg.connect(libpq) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            chunks.append(f"-- {table}")
            with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                chunks.extend(bytes(block).decode(errors="replace") for block in copy)
    return "\n".join(chunks)
