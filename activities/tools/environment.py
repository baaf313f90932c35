"""The sandbox spec of a session, from the environment config captured in its row (``sessions.environment_config``)."""

from __future__ import annotations

from typing import Any

from workflows.contracts import SandboxSpec


class SelfHostedEnvironment(Exception):
    """The session's environment runs its tools on the client (``self_hosted``); this server has no sandbox for it."""


def spec_from_environment(session_id: str, config: dict[str, Any] | None, agent: dict[str, Any] | None) -> SandboxSpec:
    """The ``SandboxSpec`` for ``{"type": "cloud", "networking": {...}, "packages": {...}}`` (or an empty config)."""
    if (config or {}).get("type") == "self_hosted":
        raise SelfHostedEnvironment(session_id)
    return SandboxSpec.of_session(session_id, config, agent)
