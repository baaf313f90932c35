"""Fixtures of the durability tests: stacks whose workers run as killable subprocesses."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.fakes.model_server import FakeModelServer
from tests.stack import Stack, TemporalDevServer, traversable_dir


@pytest.fixture
def api_only(stack: Stack, temporal_server: TemporalDevServer, model_server: FakeModelServer) -> Iterator[Stack]:
    """An API on the suite's database whose task queue only subprocess workers serve."""
    directory = traversable_dir("dma-api-only-")
    running = Stack(stack.database_url, temporal_server.address, model_server.url, directory, with_worker=False).start()
    yield running
    running.stop()
    shutil.rmtree(directory, ignore_errors=True)
