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
from tests.fuzz.resources import make_resources
from tests.stack import API_KEY, Stack

AUTH = {"authorization": f"Bearer {API_KEY}"}
# Statuses the API means to return; anything else is a bug or an undocumented behaviour.
EXPECTED_STATUSES = {200, 400, 401, 404, 405, 409, 413, 415}
# Left with made-up ids: a real session would stream forever, and deleting or archiving the shared fixtures would
# turn every later example into a 404.
RANDOM_IDS_ONLY = ("/events/stream", "/archive", "/redact")

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
        return make_resources(http, "fuzz")


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
        for name in ("agent", "environment_id", "file_id", "memory_store_id"):
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
