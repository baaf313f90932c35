"""Shared fixtures of the sandbox and tool tests: one manager per backend, both backends always (never skipped)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from activities.sandboxes import SandboxLimits, SandboxManager
from activities.tools.outcome import ToolOutcome
from activities.tools.runner import ToolRunner
from tests.stack import private_data_dir, remove_private_data_dir
from workflows.contracts import SandboxSpec

BACKENDS = ["bwrap", "docker"]
MIB = 1024 * 1024
TEST_LIMITS = SandboxLimits(pids=128, memory_bytes=512 * MIB, default_timeout=30, max_timeout=60)


def new_data_dir() -> Path:
    # Under a directory only its owner may enter, as a data dir under a newcomer's home directory is.
    return private_data_dir("dma-sandbox-test-")


def new_session_id() -> str:
    return f"sesn_{uuid.uuid4().hex[:16]}"


def spec(session_id: str, networking: str = "limited", **extra: Any) -> SandboxSpec:
    return SandboxSpec(session_id=session_id, networking=networking, **extra)  # pyright: ignore[reportArgumentType]


@pytest.fixture(scope="module", params=BACKENDS)
async def manager(request: pytest.FixtureRequest) -> AsyncIterator[SandboxManager]:
    data_dir = new_data_dir()
    sandboxes = SandboxManager(data_dir, request.param, limits=TEST_LIMITS)
    yield sandboxes
    for session in list(sandboxes._entries):  # pyright: ignore[reportPrivateUsage]
        await sandboxes.destroy(session)
    await sandboxes.close()
    remove_private_data_dir(data_dir)


@pytest.fixture
def session_id() -> str:
    return new_session_id()


class Caller:
    """Calls built-in tools of one session the way ``run_tool`` does."""

    def __init__(self, manager: SandboxManager, session_id: str, networking: str = "limited") -> None:
        self.runner = ToolRunner(manager)
        self.spec = spec(session_id, networking)

    async def __call__(self, name: str, **tool_input: Any) -> ToolOutcome:
        return await self.runner.run(name, tool_input, {}, self.spec)

    async def bash(self, command: str, timeout_ms: int | None = None) -> ToolOutcome:
        return await self("bash", command=command, **({"timeout_ms": timeout_ms} if timeout_ms else {}))


@pytest.fixture
def call(manager: SandboxManager, session_id: str) -> Caller:
    return Caller(manager, session_id)
