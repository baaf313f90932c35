"""Fixtures of the egress tests: the test internet, a credential source the tests fill, and managers wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from activities.sandboxes import SandboxManager
from activities.sandboxes.egress import EgressOptions, EgressService, Mirrors, SessionSecret
from tests.netlab.lab import LabInternet, start_internet
from tests.sandboxes.fixtures import BACKENDS, TEST_LIMITS, new_data_dir, spec
from tests.stack import remove_private_data_dir
from workflows.contracts import SandboxSpec

PIP_MIRROR = "http://pypi.internet.test/simple"


class LabCredentials:
    """A ``CredentialSource`` that hands out what a test registered for a session."""

    def __init__(self) -> None:
        self.by_session: dict[str, list[SessionSecret]] = {}

    async def secrets_for(self, session_id: str) -> Sequence[SessionSecret]:
        return self.by_session.get(session_id, [])

    async def current(self, session_id: str, secrets: Sequence[SessionSecret]) -> Sequence[SessionSecret]:
        """Those of ``secrets`` still registered (a test takes one away to revoke it)."""
        registered = self.by_session.get(session_id, [])
        return [secret for secret in secrets if secret in registered]


@pytest.fixture(scope="session")
def internet() -> Iterator[LabInternet]:
    running = start_internet()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def credentials() -> LabCredentials:
    return LabCredentials()


def lab_options(internet: LabInternet, credentials: LabCredentials | None = None, **extra: Any) -> EgressOptions:
    """Egress options whose upstream is the test internet (and nothing else).

    Without ``credentials`` a worker's sessions get theirs from its vault store.
    """
    return EgressOptions(upstream=internet.upstream(), credentials=credentials, **extra)


@pytest.fixture(scope="module", params=BACKENDS)
async def net_manager(
    request: pytest.FixtureRequest, internet: LabInternet, credentials: LabCredentials
) -> AsyncIterator[SandboxManager]:
    """A manager per backend whose sandboxes reach the test internet (pip's index: the test host's)."""
    data_dir = new_data_dir()
    egress = EgressService(lab_options(internet, credentials, mirrors=Mirrors(pip_index_url=PIP_MIRROR)))
    sandboxes = SandboxManager(data_dir, request.param, limits=TEST_LIMITS, egress=egress)
    yield sandboxes
    for session in list(sandboxes._entries):  # pyright: ignore[reportPrivateUsage]
        await sandboxes.destroy(session)
    await sandboxes.close()
    remove_private_data_dir(data_dir)


def tools_spec(backend: str, session_id: str, networking: str, **extra: Any) -> SandboxSpec:
    """A spec whose sandbox has pip: bwrap has the host's; the docker image gets it as an environment package."""
    packages = {"apt": ["python3-pip"]} if backend == "docker" else {}
    return spec(session_id, networking, packages=packages, **extra)
