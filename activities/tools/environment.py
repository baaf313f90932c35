"""The sandbox spec of a session, from the environment config captured in its row (``sessions.environment_config``)."""

from __future__ import annotations

from typing import Any

from workflows.contracts import SandboxSpec

PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")


class SelfHostedEnvironment(Exception):
    """The session's environment runs its tools on the client (``self_hosted``); this server has no sandbox for it."""


def spec_from_environment(session_id: str, config: dict[str, Any] | None) -> SandboxSpec:
    """The ``SandboxSpec`` for ``{"type": "cloud", "networking": {...}, "packages": {...}}`` (or an empty config)."""
    config = config or {}
    if config.get("type") == "self_hosted":
        raise SelfHostedEnvironment(session_id)
    networking: dict[str, Any] = config.get("networking") or {}
    packages: dict[str, Any] = config.get("packages") or {}
    hosts: list[Any] = networking.get("allowed_hosts") or []
    lists: dict[str, list[str]] = {}
    for manager in PACKAGE_MANAGERS:
        names: list[Any] = packages.get(manager) or []
        lists[manager] = [str(name) for name in names]
    return SandboxSpec(
        session_id=session_id,
        networking="limited" if networking.get("type") == "limited" else "unrestricted",
        allowed_hosts=[str(host) for host in hosts],
        packages=lists,
    )
