"""Sandbox networking end to end through sessions, on both backends: an environment's ``allowed_hosts`` reach the
proxy, and a credential's real value reaches its host while it stays out of every event, event row and log line."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from sqlmodel import col, select

from activities.sandboxes.egress import SessionSecret, new_placeholder
from dma.store.tables import SessionEvent
from tests.api.test_tools_e2e import TOOLSET, ToolSession, text_of
from tests.fakes.model_server import FakeModelServer
from tests.netlab.fixtures import LabCredentials, lab_options
from tests.netlab.lab import LabInternet
from tests.stack import API_KEY, Stack, TemporalDevServer, private_data_dir, remove_private_data_dir


@pytest.fixture(scope="module", params=["bwrap", "docker"])
def net_stack(
    request: pytest.FixtureRequest,
    stack: Stack,
    temporal_server: TemporalDevServer,
    model_server: FakeModelServer,
    internet: LabInternet,
    credentials: LabCredentials,
) -> Iterator[Stack]:
    """A stack whose worker's sandboxes reach the test internet and take their credentials from ``credentials``."""
    directory = private_data_dir(f"dma-{request.param}-net-")
    running = Stack(
        stack.database_url,
        temporal_server.address,
        model_server.url,
        directory,
        worker_overrides={"sandbox_backend": request.param},
        egress=lab_options(internet, credentials),
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


def _session(client: anthropic.Anthropic, networking: dict[str, Any]) -> ToolSession:
    env = client.beta.environments.create(name="net", config={"type": "cloud", "networking": networking})  # type: ignore[arg-type]
    tools = ToolSession.__new__(ToolSession)
    tools.client, tools.turns = client, 0
    agent = client.beta.agents.create(model="claude-sonnet-4-6", name="net-agent", tools=TOOLSET)  # type: ignore[arg-type]
    tools.session = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
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


def test_a_credential_reaches_its_host_and_nothing_else(
    net_client: anthropic.Anthropic,
    net_stack: Stack,
    internet: LabInternet,
    credentials: LabCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tools = _session(net_client, {"type": "unrestricted"})
    real = f"canary-{uuid.uuid4().hex}"
    secret = SessionSecret("API_TOKEN", new_placeholder("API_TOKEN"), real, ("internet.test",), header=True, body=True)
    credentials.by_session[tools.session.id] = [secret]
    mark = internet.mark()
    command = 'curl -sS -H "Authorization: Bearer $API_TOKEN" --data "t=$API_TOKEN" https://internet.test/record; env'
    result = tools.run("bash", {"command": command})
    output = text_of(result)
    assert output.startswith("recorded") and f"API_TOKEN={secret.placeholder}" in output
    [seen] = internet.since(mark)
    assert ["Authorization", f"Bearer {real}"] in [[str(k).title(), v] for k, v in seen["headers"]]  # type: ignore[union-attr]
    assert seen["body"] == f"t={real}"
    events = list(net_client.beta.sessions.events.list(tools.session.id))
    rows = net_stack.run(_rows(net_stack, tools.session.id))
    assert len(rows) == len(events) > 0
    everything = [e.model_dump_json() for e in events] + [json.dumps([r.body, r.extra], default=str) for r in rows]
    logged = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("egress ") and tools.session.id in line for line in logged), "the proxy's lines count"
    everything += logged
    assert secret.placeholder in " ".join(everything), "the events do hold the sandbox's view"
    assert all(real not in text for text in everything)
