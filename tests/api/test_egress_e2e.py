"""Sandbox networking end to end through sessions, on both backends and both databases: an environment's
``allowed_hosts`` reach the proxy, and a vault's ``environment_variable`` credential reaches its host (only that
host) while its real value stays out of the sandbox, every event, event row and log line of the API and worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from sqlmodel import col, select

from activities.sandboxes.egress import stable_placeholder
from dma.store.tables import SessionEvent
from tests.api.log_lines import LogLines
from tests.api.test_tools_e2e import TOOLSET, ToolSession, text_of
from tests.fakes.model_server import FakeModelServer
from tests.netlab.fixtures import lab_options
from tests.netlab.lab import LabInternet
from tests.sandboxes.canaries import Canaries
from tests.stack import API_KEY, Stack, TemporalDevServer, private_data_dir, remove_private_data_dir


@pytest.fixture(scope="module", params=["bwrap", "docker"])
def net_stack(
    request: pytest.FixtureRequest,
    stack: Stack,
    temporal_server: TemporalDevServer,
    model_server: FakeModelServer,
    internet: LabInternet,
) -> Iterator[Stack]:
    """A stack whose worker's sandboxes reach the test internet and take their credentials from its vaults."""
    directory = private_data_dir(f"dma-{request.param}-net-")
    running = Stack(
        stack.database_url,
        temporal_server.address,
        model_server.url,
        directory,
        worker_overrides={"sandbox_backend": request.param},
        egress=lab_options(internet),
    ).start()
    try:
        yield running
    finally:
        running.stop()
        remove_private_data_dir(directory)


@pytest.fixture
def net_client(net_stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=API_KEY, base_url=net_stack.base_url, _strict_response_validation=True) as sdk:
        yield sdk


def _session(
    client: anthropic.Anthropic, networking: dict[str, Any], vault_ids: list[str] | None = None
) -> ToolSession:
    env = client.beta.environments.create(name="net", config={"type": "cloud", "networking": networking})  # type: ignore[arg-type]
    tools = ToolSession.__new__(ToolSession)
    tools.client, tools.turns = client, 0
    agent = client.beta.agents.create(model="claude-sonnet-4-6", name="net-agent", tools=TOOLSET)  # type: ignore[arg-type]
    tools.session = client.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=vault_ids or [])
    return tools


def test_allowed_hosts_from_the_environment_reach_the_proxy(net_client: anthropic.Anthropic) -> None:
    tools = _session(net_client, {"type": "limited", "allowed_hosts": ["internet.test"]})
    allowed = tools.run("bash", {"command": "curl -sS http://internet.test/hello"})
    assert text_of(allowed).strip() == "hello from the test internet"
    refused = tools.run("bash", {"command": "curl -sS http://other.test/hello"})
    assert "Refused by the sandbox's network policy (limited): other.test is not in allowed_hosts" in text_of(refused)


async def _rows(stack: Stack, session_id: str) -> list[SessionEvent]:
    assert stack.db is not None
    async with stack.db.read() as db:
        return list((await db.exec(select(SessionEvent).where(col(SessionEvent.session_id) == session_id))).all())


def _headers(entry: dict[str, Any]) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in entry["headers"]}


def test_a_vault_credential_reaches_its_host_and_nothing_else(
    net_client: anthropic.Anthropic, net_stack: Stack, internet: LabInternet, debug_logs: LogLines
) -> None:
    canaries = Canaries(uuid.uuid4().hex)
    real = canaries.value("API_TOKEN")
    vault = net_client.beta.vaults.create(display_name="egress")
    auth = {
        "type": "environment_variable",
        "secret_name": "API_TOKEN",
        "secret_value": real,
        "networking": {"type": "limited", "allowed_hosts": ["internet.test"]},
        "injection_location": {"header": True, "body": True},
    }
    credential = net_client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    # The environment lets the sandbox reach both hosts; the credential covers only internet.test.
    tools = _session(
        net_client, {"type": "limited", "allowed_hosts": ["internet.test", "other.test"]}, vault_ids=[vault.id]
    )
    placeholder = stable_placeholder("API_TOKEN", tools.session.id, credential.id)
    ca = {"file_path": "/workspace/test-ca.pem", "content": internet.pki.ca_file.read_text()}
    assert not tools.run("write", ca).is_error
    mark = internet.mark()
    # Trusting the test internet's CA alone for other.test: it passes only if the proxy left that tunnel untouched.
    command = (
        'curl -sS -H "Authorization: Bearer $API_TOKEN" --data "t=$API_TOKEN" https://internet.test/record;'
        ' curl -sS --cacert test-ca.pem -H "X-Token: $API_TOKEN" https://other.test/record; echo "inside=$API_TOKEN"'
    )
    output = text_of(tools.run("bash", {"command": command}))
    assert output.split() == ["recorded", "recorded", f"inside={placeholder}"]
    allowed, other = internet.since(mark)
    assert _headers(allowed)["host"] == "internet.test" and allowed["tls"]
    assert _headers(allowed)["authorization"] == f"Bearer {real}" and allowed["body"] == f"t={real}"
    assert _headers(other)["host"] == "other.test" and other["tls"]
    assert _headers(other)["x-token"] == placeholder, "a host the credential does not cover sees the placeholder"
    # Inside: every process's environment, every readable file (the probe greps for the value without holding it).
    probe = text_of(tools.run("bash", {"command": canaries.probe()}))
    canaries.check_probe_output(probe)
    assert f"API_TOKEN={placeholder}" in probe
    events = list(net_client.beta.sessions.events.list(tools.session.id))
    rows = net_stack.run(_rows(net_stack, tools.session.id))
    assert len(rows) == len(events) > 0
    everything = [e.model_dump_json() for e in events] + [json.dumps([r.body, r.extra], default=str) for r in rows]
    assert placeholder in " ".join(everything), "the events do hold the sandbox's view"
    assert any(line.startswith("dma.egress") and tools.session.id in line for line in debug_logs.lines), "logs count"
    everything += debug_logs.lines
    for text in everything:
        canaries.assert_absent(text)


def test_archived_credentials_stay_out_of_new_sandboxes(net_client: anthropic.Anthropic, internet: LabInternet) -> None:
    vault = net_client.beta.vaults.create(display_name="archived")
    auth = {
        "type": "environment_variable",
        "secret_name": "OLD_TOKEN",
        "secret_value": f"canary-{uuid.uuid4().hex}",
        "networking": {"type": "unrestricted"},
    }
    credential = net_client.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    net_client.beta.vaults.credentials.archive(credential.id, vault_id=vault.id)
    tools = _session(net_client, {"type": "unrestricted"}, vault_ids=[vault.id])
    ca = {"file_path": "/workspace/test-ca.pem", "content": internet.pki.ca_file.read_text()}
    assert not tools.run("write", ca).is_error
    # The test internet's own certificate passes only through a tunnel the proxy did not open for a credential.
    command = 'echo "${OLD_TOKEN-unset}"; curl -sS --cacert test-ca.pem https://internet.test/hello'
    output = text_of(tools.run("bash", {"command": command}))
    assert output.splitlines() == ["unset", "hello from the test internet"]
