"""Fixtures of the API tests that need tool sandboxes: one dedicated stack per sandbox backend."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.api.log_lines import LogLines, debug_log_lines
from tests.api.recording import Recorder, recording_client
from tests.fakes.git_server import GitServer
from tests.fakes.model_server import FakeModelServer
from tests.stack import API_KEY, Stack, TemporalDevServer, private_data_dir, remove_private_data_dir


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """A repository host on loopback that the sandbox stacks clone ``github_repository`` resources from."""
    server = GitServer(tmp_path_factory.mktemp("git-host")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["bwrap", "docker"])
def sandbox_stack(
    request: pytest.FixtureRequest,
    stack: Stack,
    temporal_server: TemporalDevServer,
    model_server: FakeModelServer,
    git_server: GitServer,
) -> Iterator[Stack]:
    """A stack on the suite's database whose worker runs sandboxes on the given backend.

    Its data dir sits in a directory only its owner may enter, as under a newcomer's 0700 home directory.
    """
    directory = private_data_dir(f"dma-{request.param}-stack-")
    running = Stack(
        stack.database_url,
        temporal_server.address,
        model_server.url,
        directory,
        worker_overrides={"sandbox_backend": request.param, "github_base_url": git_server.url},
    ).start()
    try:
        yield running
    finally:
        running.stop()
        remove_private_data_dir(directory)


@pytest.fixture
def sandbox_client(sandbox_stack: Stack) -> Iterator[anthropic.Anthropic]:
    """A client of ``sandbox_stack``."""
    with anthropic.Anthropic(api_key=API_KEY, base_url=sandbox_stack.base_url, _strict_response_validation=True) as sdk:
        yield sdk


@pytest.fixture
def recorded(sandbox_stack: Stack) -> Iterator[tuple[anthropic.Anthropic, Recorder]]:
    """A strict SDK client of ``sandbox_stack`` that records its requests: the conformance scenarios run through it
    on both databases and both sandbox backends."""
    client, recorder = recording_client(sandbox_stack.base_url)
    with client:
        yield client, recorder


@pytest.fixture
def debug_logs() -> Iterator[LogLines]:
    """Every log line of the stack's API and worker at DEBUG during the test."""
    with debug_log_lines() as lines:
        yield lines
