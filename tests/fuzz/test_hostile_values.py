"""A deterministic sweep of hostile values through every parameter of every operation, and through every string of
valid request bodies, on both database backends.

Random fuzzing (``test_openapi_fuzz.py``) rarely draws the few values that break a store, such as a NUL character,
which PostgreSQL refuses in text. This sweep sends each of them on purpose, aimed at real resources so that it gets
past the 404 of a made-up id. Properties: no 5xx, the status is one the API uses, and errors use the envelope.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.app import create_app
from dma.settings import ApiSettings
from tests.fuzz.test_openapi_fuzz import AUTH, EXPECTED_STATUSES, seed_vault
from tests.stack import Stack

OPENAPI = create_app(ApiSettings()).openapi()
HOSTILE = ["\x00", "a\x00b", "%00", "-1", "9" * 40, "x" * 20_000, "../../etc/passwd", "' OR 1=1 --", "🦀\u202e", " "]
# Query parameters read from the request by hand, which the OpenAPI document does not declare.
UNDECLARED_QUERY = {
    "/v1/agents": ["limit"],
    "/v1/environments": ["limit"],
    "/v1/agents/{agent_id}/versions": ["limit"],
    "/v1/sessions": ["limit", "statuses[]", "created_at[gte]"],
    "/v1/sessions/{session_id}/events": ["limit", "types[]", "created_at[lt]"],
    "/v1/sessions/{session_id}/events/stream": ["event_deltas[]"],
    "/v1/deployments": ["created_at_gte", "created_at[lte]"],
    "/v1/deployment_runs": ["created_at_gt", "created_at[lt]"],
}
STREAM = "/v1/sessions/{session_id}/events/stream"
NUL = ["\x00", "a\x00b"]
HUGE = ["9" * 40]
# Bugs this sweep found in code outside the fuzz suite's reach, reported to the lead: (backend, method, path, where,
# values) → a 500. Each must keep failing until it is fixed; then the test says to delete its entry.
# Fixed: unbounded integer query parameters (now capped at 2**31-1) and NUL in strings (rejected by api.guards).
KNOWN_BUGS: list[tuple[str, str, str, str, list[str]]] = []


def text(value: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value}]


def valid_bodies(ids: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """One valid body per write operation: the sweep puts a hostile value in one string of it at a time."""
    return {
        ("POST", "/v1/agents"): {
            "name": "n",
            "model": "claude-sonnet-4-6",
            "description": "d",
            "system": "s",
            "metadata": {"k": "v"},
            "tools": [{"type": "custom", "name": "t", "description": "d", "input_schema": {"type": "object"}}],
        },
        ("POST", "/v1/environments"): {"name": "n", "description": "d", "config": {"type": "cloud"}, "metadata": {}},
        ("POST", "/v1/sessions"): {
            "agent": ids["agent_id"],
            "environment_id": ids["environment_id"],
            "title": "t",
            "metadata": {"k": "v"},
        },
        ("POST", "/v1/sessions/{session_id}"): {"title": "t", "metadata": {"k": "v"}},
        ("POST", "/v1/environments/{environment_id}"): {"name": "n", "description": "d"},
        ("POST", "/v1/sessions/{session_id}/events"): {"events": [{"type": "user.message", "content": text("hi")}]},
        ("POST", "/v1/vaults"): {"display_name": "v", "metadata": {"k": "v"}},
        ("POST", "/v1/vaults/{vault_id}"): {"display_name": "v", "metadata": {"k": "v"}},
        ("POST", "/v1/vaults/{vault_id}/credentials"): {
            "display_name": "c",
            "metadata": {"k": "v"},
            "auth": {
                "type": "mcp_oauth",
                "access_token": "a",
                "mcp_server_url": "https://hostile.example.com/mcp",
                "expires_at": "2999-01-01T00:00:00Z",
                "refresh": {
                    "client_id": "c",
                    "refresh_token": "r",
                    "token_endpoint": "https://hostile.example.com/token",
                    "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "s"},
                    "scope": "read",
                    "resource": "https://hostile.example.com",
                },
            },
        },
        ("POST", "/v1/vaults/{vault_id}/credentials/{credential_id}"): {
            "display_name": "c",
            "auth": {"type": "static_bearer", "token": "t2"},
        },
        ("POST", "/v1/deployments"): deployment_body(ids),
        ("POST", "/v1/deployments/{deployment_id}"): {
            "name": "n",
            "description": "d",
            "metadata": {"k": "v"},
            "schedule": {"type": "cron", "expression": "0 9 * * 1", "timezone": "UTC"},
            "initial_events": [{"type": "user.message", "content": text("hi")}],
        },
        ("POST", "/v1/sessions/{session_id}/wakeups"): {
            "reason": "r",
            "cron": {"expression": "0 9 * * 1", "timezone": "UTC"},
        },
    }


def deployment_body(ids: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "n",
        "agent": ids["agent_id"],
        "environment_id": ids["environment_id"],
        "description": "d",
        "metadata": {"k": "v"},
        "schedule": {"type": "cron", "expression": "0 9 * * 1", "timezone": "Europe/Paris"},
        "initial_events": [
            {"type": "user.message", "content": text("hi")},
            {"type": "system.message", "content": text("s")},
        ],
    }


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where the strings of a JSON value are (dict keys of ``metadata`` count: they are user input too)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        mapping: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType] - JSON
        for key, item in mapping.items():
            if path and path[-1] == "metadata":
                yield (*path, ("key", key))
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType] - JSON
        for index, item in enumerate(items):
            yield from string_paths(item, (*path, index))


def replaced(body: Any, path: tuple[Any, ...], hostile: str) -> Any:
    out = copy.deepcopy(body)
    target = out
    for step in path[:-1]:
        target = target[step]
    last = path[-1]
    if isinstance(last, tuple):
        target[hostile] = target.pop(last[1])
    else:
        target[last] = hostile
    return out


def requests_for(path: str, method: str, op: dict[str, Any], ids: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Requests with one hostile value each: in a path id, a query parameter, a header, or a body string.

    ``where`` names the spot (``path:agent_id``, ``query:limit``, ``header:last-event-id``, ``body:title``).
    """
    params = op.get("parameters", [])
    real = {p["name"]: ids.get(p["name"], "x") for p in params if p["in"] == "path"}
    base = {"path": path.format(**real), "params": {}, "headers": {}}
    for name in real:
        for hostile in HOSTILE:
            quoted = {**real, name: quote(hostile, safe="")}
            yield base | {"where": f"path:{name}", "hostile": hostile, "path": path.format(**quoted)}
    declared = [p["name"] for p in params if p["in"] == "query"]
    for name in [*declared, *(UNDECLARED_QUERY.get(path, []) if method == "GET" else [])]:
        for hostile in HOSTILE:
            yield base | {"where": f"query:{name}", "hostile": hostile, "params": {name: hostile}}
    for name in [p["name"] for p in params if p["in"] == "header"]:
        # HTTP cannot carry the others in a header value: the client refuses to send them.
        for hostile in [h for h in HOSTILE if h.isascii() and h.isprintable() and h == h.strip()]:
            yield base | {"where": f"header:{name}", "hostile": hostile, "headers": {name: hostile}}
    body = valid_bodies(ids).get((method, path))
    for spot in string_paths(body) if body is not None else []:
        where = "body:" + ".".join(str(step[0] if isinstance(step, tuple) else step) for step in spot)
        for hostile in HOSTILE:
            yield base | {"where": where, "hostile": hostile, "json": replaced(body, spot, hostile)}


def send(http: httpx.Client, method: str, request: dict[str, Any], stream: bool) -> httpx.Response:
    headers = {**AUTH, **request["headers"]}
    if not stream:
        return http.request(
            method, request["path"], params=request["params"], headers=headers, json=request.get("json")
        )
    with http.stream(method, request["path"], params=request["params"], headers=headers) as response:
        if response.status_code >= 400:
            response.read()  # an error body; a 200 is a live stream that is left here
        return response


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 120 else shown[:100] + f"… ({len(shown)} chars)"


OPERATIONS = [
    pytest.param(method.upper(), path, op, id=f"{method.upper()} {path}")
    for path, ops in OPENAPI["paths"].items()
    for method, op in ops.items()
    if method.upper() != "DELETE" and not path.endswith("/archive") and path != "/health"
]


@pytest.fixture(scope="session")
def hostile_ids(stack: Stack) -> dict[str, str]:
    with httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as http:
        agent = http.post("/v1/agents", json={"name": "hostile", "model": "claude-sonnet-4-6"}).json()["id"]
        env = http.post("/v1/environments", json={"name": "hostile", "config": {"type": "cloud"}}).json()["id"]
        session = http.post("/v1/sessions", json={"agent": agent, "environment_id": env}).json()["id"]
        vault, credential = seed_vault(http)
        ids = {"agent_id": agent, "environment_id": env, "session_id": session}
        deployment = http.post("/v1/deployments", json={**deployment_body(ids), "schedule": None}).json()["id"]
        run = http.post(f"/v1/deployments/{deployment}/run").json()["id"]
        wakeup = http.post(f"/v1/sessions/{session}/wakeups", json={"reason": "r", "in_seconds": 3600}).json()["id"]
    return {
        **ids,
        "vault_id": vault,
        "credential_id": credential,
        "deployment_id": deployment,
        "deployment_run_id": run,
        "wakeup_id": wakeup,
    }


def misbehaviour(http: httpx.Client, method: str, path: str, request: dict[str, Any]) -> str | None:
    """What went wrong with one hostile request, if anything."""
    try:
        response = send(http, method, request, stream=path == STREAM)
    except httpx.TransportError as err:
        return f"the connection failed: {err!r}"
    if response.status_code not in EXPECTED_STATUSES:
        return f"status {response.status_code}: {response.text[:160]!r}"
    if response.status_code >= 400:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(error, dict) and isinstance(error.get("message"), str) and body["type"] == "error"):
            return f"not the error envelope: {body!r:.160}"
    return None


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS)
def test_hostile_values(
    method: str, path: str, op: dict[str, Any], backend: str, stack: Stack, hostile_ids: dict[str, str]
) -> None:
    failures: list[str] = []
    still_broken: set[tuple[str, str]] = set()
    known = {
        (where, value)
        for b, m, p, where, values in KNOWN_BUGS
        if (b, m, p) == (backend, method, path)
        for value in values
    }
    # A fresh connection per request: after a 500 the server closes the connection, which would otherwise fail
    # the next request and blame the wrong value.
    with httpx.Client(
        base_url=stack.base_url, timeout=httpx.Timeout(30, read=5), headers={"connection": "close"}
    ) as http:
        for request in requests_for(path, method, op, hostile_ids):
            problem = misbehaviour(http, method, path, request)
            key = (request["where"], request["hostile"])
            if problem is not None and key in known:
                still_broken.add(key)
            elif problem is not None:
                failures.append(f"{request['where']} = {_short(request['hostile'])}: {problem}")
    assert not failures, f"{len(failures)} hostile requests misbehaved:\n" + "\n".join(failures[:12])
    fixed = known - still_broken
    assert not fixed, f"known bugs no longer reproduce (fixed? remove them from KNOWN_BUGS): {sorted(fixed)}"
