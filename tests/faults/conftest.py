"""Fixtures of the fault suite: its own Temporal dev server and fake model (restarted and counted here, so no other
test is disturbed), and a fresh database per scenario on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import new_database
from tests.fakes.model_server import FakeModelServer
from tests.faults.rig import FaultRig
from tests.stack import TemporalDevServer


@pytest.fixture(scope="module")
def fault_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(tmp_path_factory.mktemp("fault-temporal"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


def make_rig(backend: str, temporal: TemporalDevServer, model: FakeModelServer, directory: Path) -> Iterator[FaultRig]:
    url, drop = new_database(backend, directory)
    rig = FaultRig(backend, url, temporal, model, directory)
    try:
        yield rig
    finally:
        rig.stop()
        drop()


@pytest.fixture(params=["sqlite", "postgres"])
def rig(
    request: pytest.FixtureRequest, fault_temporal: TemporalDevServer, fault_model: FakeModelServer, tmp_path: Path
) -> Iterator[FaultRig]:
    yield from make_rig(str(request.param), fault_temporal, fault_model, tmp_path)


@pytest.fixture
def pg_rig(fault_temporal: TemporalDevServer, fault_model: FakeModelServer, tmp_path: Path) -> Iterator[FaultRig]:
    yield from make_rig("postgres", fault_temporal, fault_model, tmp_path)
