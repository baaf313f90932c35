"""Fixtures: a real Temporal dev server, the fake model server, and a dma stack per database backend.

Every API test runs twice, on SQLite and on PostgreSQL (``DMA_TEST_POSTGRES_URL``, which ``scripts/test`` sets up).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import httpx
import psycopg
import pytest

from dma.store import migrate
from tests.fakes.mcp_server import FakeMcpServer
from tests.fakes.model_server import FakeModelServer
from tests.netlab.fixtures import credentials, internet
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

BACKENDS = ["sqlite", "postgres"]
# The test internet of the egress tests (a network namespace, created once when a test first asks for it).
__all__ = ["credentials", "internet"]
# The scenario suite runs once per provider kind, every one against the fake model server: the Messages API, OpenAI
# (Chat Completions), a providers-file OpenAI-compatible server, and the Responses API (tests/providers.py).
SCENARIO_MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "openai/gpt-4o-mini",
    "compatible": "local/qwen-test",
    "responses": "resp/gpt-test",
}


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(tmp_path_factory.mktemp("temporal"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[FakeMcpServer]:
    """One MCP server for the whole run; tests add the tokens they use (``state.tokens``)."""
    with FakeMcpServer() as server:
        yield server


def postgres_admin_url() -> str:
    url = os.environ.get("DMA_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("DMA_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)")
    return url


def new_database(kind: str, directory: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, migrated database of the given kind, and how to drop it."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'dma.db'}"
        migrate.upgrade(url)
        return url, lambda: None
    admin = postgres_admin_url()
    name = f"dma_t_{uuid.uuid4().hex[:10]}"
    libpq = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)

    def drop() -> None:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def stack(
    backend: str,
    temporal_server: TemporalDevServer,
    model_server: FakeModelServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    directory = traversable_dir(f"dma-stack-{backend}-")
    url, drop = new_database(backend, directory)
    # Few attempts keep retry tests short; a tiny continue-as-new threshold makes every multi-turn test cross runs.
    # Fires start within a second of their minute, and wakeups may be a second apart, to keep schedule tests short.
    overrides = {
        "model_max_attempts": 3,
        "continue_as_new_after_turns": 2,
        "schedule_jitter_seconds": 1,
        "wakeup_min_interval_seconds": 1,
        "mcp_max_attempts": 3,
    }
    running = Stack(
        url, temporal_server.address, model_server.url, directory, api_overrides=overrides, worker_overrides=overrides
    ).start()
    yield running
    running.stop()
    drop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=list(SCENARIO_MODELS))
def scenario_model(request: pytest.FixtureRequest) -> str:
    """A model id of each provider kind in turn."""
    return SCENARIO_MODELS[str(request.param)]


@pytest.fixture
def base_url(stack: Stack) -> str:
    return stack.base_url


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def client(stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=API_KEY, base_url=stack.base_url, _strict_response_validation=True) as sdk:
        yield sdk


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as raw:
        yield raw
