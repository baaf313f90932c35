"""A sandbox's network policy: which destinations the egress proxy lets it reach, and why it refuses the others.

Two layers, checked in this order for every connection and every request:

1. The environment's policy, on the name the sandbox asked for: ``unrestricted`` passes every name, ``limited`` only
   ``allowed_hosts`` (``dma.hosts`` patterns), the package registries when ``allow_package_managers``, and the hosts
   of the agent's MCP servers when ``allow_mcp_servers``.
2. The address rules (``addresses``), always, on every address the name resolves to: a name with any refused address
   is refused as a whole (no DNS-rebinding games), and the connection is pinned to the addresses that were checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from activities.sandboxes.egress.addresses import ControlPlane, parse_ip, refusal
from activities.sandboxes.egress.upstream import Resolved, ResolveError, Upstream
from dma.hosts import matches_any, normalize_name
from workflows.contracts import SandboxSpec

# Public registries of the package managers environments install from (``allow_package_managers``).
PACKAGE_REGISTRIES = (
    "pypi.org",
    "files.pythonhosted.org",
    "pypi.python.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "rubygems.org",
    "index.rubygems.org",
    "proxy.golang.org",
    "sum.golang.org",
)
ALWAYS = "always enforced"


class Refused(Exception):
    """A destination the policy refuses.

    Attributes:
        policy: The policy that refused it: ``limited`` or ``always enforced`` (the address rules).
        reason: Why, in words meant for the agent reading the proxy's answer.
    """

    def __init__(self, policy: str, reason: str) -> None:
        super().__init__(policy, reason)
        self.policy = policy
        self.reason = reason

    def __str__(self) -> str:
        return f"Refused by the sandbox's network policy ({self.policy}): {self.reason}."


@dataclass(frozen=True)
class NetworkPolicy:
    """What one sandbox may reach.

    Attributes:
        mode: ``unrestricted`` or ``limited``.
        allowed: The ``limited`` patterns: ``allowed_hosts`` plus registries and MCP hosts as the spec allows.
        control_plane: Endpoints refused on every address.
    """

    mode: str
    allowed: tuple[str, ...]
    control_plane: ControlPlane

    @classmethod
    def of_spec(cls, spec: SandboxSpec, control_plane: ControlPlane, registries: tuple[str, ...] = ()) -> NetworkPolicy:
        """The policy of ``spec``; ``registries`` are extra package-manager hosts (a configured mirror)."""
        allowed = list(spec.allowed_hosts)
        if spec.allow_package_managers:
            allowed += [*PACKAGE_REGISTRIES, *registries]
        if spec.allow_mcp_servers:
            allowed += spec.mcp_hosts
        return cls(spec.networking, tuple(allowed), control_plane)

    def check_name(self, host: str) -> None:
        """Layer 1: ``Refused`` unless the environment's policy lets the sandbox ask for ``host``."""
        if self.mode == "limited" and not matches_any(self.allowed, host):
            raise Refused("limited", f"{normalize_name(host)} is not in allowed_hosts")

    async def admit(self, upstream: Upstream, host: str, port: int) -> list[Resolved]:
        """Both layers: the checked addresses to connect to (in order), or ``Refused``.

        Raises:
            Refused: the name or one of its addresses is refused.
            ResolveError: the name does not resolve.
        """
        literal = parse_ip(host)
        if literal is not None:
            # An address literal is judged by the address rules first: their reason says more than "not allowed".
            self._check_addresses([Resolved(literal)], port, "")
            self.check_name(host)
            return [Resolved(literal)]
        self.check_name(host)
        name = normalize_name(host)
        answers = await upstream.resolve(name, port)
        self._check_addresses(answers, port, f"{name} resolves to ")
        return answers

    def _check_addresses(self, answers: list[Resolved], port: int, prefix: str) -> None:
        for answer in answers:
            why = None if answer.exempt else refusal(answer.ip, port, self.control_plane)
            if why is not None:
                raise Refused(ALWAYS, f"{prefix}{answer.ip}: {why}" if prefix else why)


__all__ = ["ALWAYS", "PACKAGE_REGISTRIES", "NetworkPolicy", "Refused", "ResolveError"]
