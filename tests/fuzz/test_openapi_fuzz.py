"""Schemathesis over the app's own OpenAPI document, against a running stack, on both database backends.

Every implemented operation gets positive and negative examples (bounded and derandomized, so a run is repeatable).
Operations are collected from ``create_app(...).openapi()``; a test checks that the running stack serves exactly
that document at ``/openapi.json`` (schemathesis' ``from_fixture`` does not run under pytest 9, hence this split).
Properties: no 5xx; a documented status has a body matching its schema; every error uses the contract's envelope
``{"type": "error", "error": {"type": str, "message": str}, ...}``; and no status outside the few the API uses.
Half of the path ids and body references are swapped for real resources (deterministically), so examples get past
the 404 of a made-up id into validation and the store.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from dma.settings import ApiSettings
from tests.stack import API_KEY, Stack

AUTH = {"authorization": f"Bearer {API_KEY}"}
# Statuses the API means to return; anything else is a bug or an undocumented behaviour.
EXPECTED_STATUSES = {200, 400, 401, 404, 405, 409, 413, 415}
# Left with made-up ids: a real session would stream forever, and deleting or archiving the shared fixtures would
# turn every later example into a 404.
RANDOM_IDS_ONLY = ("/events/stream", "/archive")

OPENAPI = create_app(ApiSettings()).openapi()
OPERATIONS: list[APIOperation[Any]] = [
    result.ok()  # pyright: ignore[reportAttributeAccessIssue] - every operation of the app's own schema resolves
    for result in schemathesis.openapi.from_dict(OPENAPI).get_all_operations()
]
FUZZ_SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture(scope="session")
def fuzz_ids(stack: Stack) -> dict[str, str]:
    """Real resources to aim some examples at."""
    with httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as http:
        agent = http.post("/v1/agents", json={"name": "fuzz", "model": "claude-sonnet-4-6"}).json()["id"]
        env = http.post("/v1/environments", json={"name": "fuzz", "config": {"type": "cloud"}}).json()["id"]
        session = http.post("/v1/sessions", json={"agent": agent, "environment_id": env}).json()["id"]
        vault, credential = seed_vault(http)
        events = [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]
        deployment = http.post(
            "/v1/deployments", json={"name": "f", "agent": agent, "environment_id": env, "initial_events": events}
        ).json()["id"]
        run = http.post(f"/v1/deployments/{deployment}/run").json()["id"]
        wakeup = http.post(f"/v1/sessions/{session}/wakeups", json={"reason": "r", "in_seconds": 3600}).json()["id"]
    return {
        "agent_id": agent,
        "environment_id": env,
        "session_id": session,
        "agent": agent,
        "vault_id": vault,
        "credential_id": credential,
        "deployment_id": deployment,
        "deployment_run_id": run,
        "wakeup_id": wakeup,
    }


def seed_vault(http: httpx.Client) -> tuple[str, str]:
    """A vault with a static bearer credential (whose probe is a quick 400: only mcp_oauth can be validated)."""
    vault = http.post("/v1/vaults", json={"display_name": "fuzz"}).json()["id"]
    auth = {"type": "static_bearer", "token": "fuzz-token", "mcp_server_url": "https://fuzz.example.com/mcp"}
    credential = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": auth}).json()["id"]
    return vault, credential


def _heads(value: object) -> bool:
    """A deterministic coin: the same generated value always lands the same side."""
    return hashlib.sha256(repr(value).encode()).digest()[0] % 2 == 0


def aim_at_real_resources(case: Any, ids: dict[str, str]) -> None:
    path = str(case.operation.path)
    if case.method.upper() != "DELETE" and not path.endswith(RANDOM_IDS_ONLY):
        for name in list(case.path_parameters or {}):
            if name in ids and _heads(case.path_parameters[name]):
                case.path_parameters[name] = ids[name]
    if isinstance(case.body, dict):
        for name in ("agent", "environment_id"):
            if isinstance(case.body.get(name), str) and _heads(case.body[name]):
                case.body[name] = ids[name]
        if isinstance(case.body.get("vault_ids"), list) and _heads(case.body["vault_ids"]):
            case.body["vault_ids"] = [ids["vault_id"]]


def assert_error_envelope(response: Any) -> None:
    assert response.status_code in EXPECTED_STATUSES, f"unexpected status {response.status_code}: {response.text}"
    if response.status_code < 400:
        return
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(body, dict) and body.get("type") == "error", f"not the error envelope: {body}"
    assert isinstance(error, dict), f"not the error envelope: {body}"
    assert isinstance(error.get("type"), str) and isinstance(error.get("message"), str), f"bad error: {body}"


def test_stack_serves_the_schema_under_test(stack: Stack) -> None:
    served = httpx.get(f"{stack.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == OPENAPI


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_operation(operation: APIOperation[Any], stack: Stack, fuzz_ids: dict[str, str]) -> None:
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

    @FUZZ_SETTINGS
    @given(case=cases)
    def examples(case: Case[Any]) -> None:
        aim_at_real_resources(case, fuzz_ids)
        response = case.call(base_url=stack.base_url, headers=AUTH, timeout=15)
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
        )
        assert_error_envelope(response)

    examples()
