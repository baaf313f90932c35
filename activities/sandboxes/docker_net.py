"""The bridge network of sandboxes that may go online, and the firewall that keeps them off the host.

Containers on a user-defined bridge cannot see the host's loopback (127.0.0.1 in a container is its own), but they can
reach every host address through the bridge gateway, and private networks through the host's routes. So the bridge
gets two iptables chains: ``DMA-SBX-IN`` (from ``INPUT``) rejects everything the sandboxes send to the host itself,
and ``DMA-SBX-FWD`` (from ``DOCKER-USER``) rejects private, link-local (cloud metadata), CGNAT and loopback
destinations, except DNS to the host's configured resolvers. Blocking calls: run through ``asyncio.to_thread``.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import docker
from docker.errors import NotFound

from activities.sandboxes.base import IsolationUnavailable

NETWORK = "dma-sandbox"
BRIDGE = "dma-sbx0"
BLOCKED = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
CHAIN_IN = "DMA-SBX-IN"
CHAIN_FWD = "DMA-SBX-FWD"


def _nameservers() -> list[str]:
    servers: list[str] = []
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return servers
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                if ipaddress.ip_address(parts[1]).version == 4:
                    servers.append(parts[1])
            except ValueError:
                continue
    return servers


def _iptables(*args: str, check: bool = True) -> bool:
    binary = shutil.which("iptables")
    if binary is None:
        raise IsolationUnavailable("networking for docker sandboxes needs iptables (to keep them off the host)")
    done = subprocess.run([binary, "-w", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise IsolationUnavailable(f"cannot firewall the sandbox network (iptables {' '.join(args)}): {done.stderr}")
    return done.returncode == 0


def _chain(name: str, rules: list[list[str]]) -> None:
    _iptables("-N", name, check=False)
    _iptables("-F", name)
    for rule in rules:
        _iptables("-A", name, *rule)


def _hook(parent: str, chain: str, bridge: str) -> None:
    if not _iptables("-C", parent, "-i", bridge, "-j", chain, check=False):
        _iptables("-I", parent, "1", "-i", bridge, "-j", chain)


def install_firewall(bridge: str = BRIDGE) -> None:
    """(Re)install both chains and their hooks; idempotent."""
    reject = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
    _chain(CHAIN_IN, [["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"], reject])
    forward: list[list[str]] = []
    for server in _nameservers():
        forward += [["-d", server, "-p", proto, "--dport", "53", "-j", "RETURN"] for proto in ("udp", "tcp")]
    forward += [["-d", net, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"] for net in BLOCKED]
    forward += [["-d", net, *reject] for net in BLOCKED]
    _chain(CHAIN_FWD, forward)
    _hook("INPUT", CHAIN_IN, bridge)
    parent = "DOCKER-USER" if _iptables("-n", "-L", "DOCKER-USER", check=False) else "FORWARD"
    _hook(parent, CHAIN_FWD, bridge)


def ensure_network(client: docker.DockerClient, name: str = NETWORK, bridge: str = BRIDGE) -> str:
    """Create the sandbox bridge (no inter-container traffic) if missing, firewall it, and return its name."""
    try:
        client.networks.get(name)
    except NotFound:
        client.networks.create(
            name,
            driver="bridge",
            options={"com.docker.network.bridge.name": bridge, "com.docker.network.bridge.enable_icc": "false"},
            labels={"dma.sandbox": "1"},
        )
    install_firewall(bridge)
    return name
