"""Which destination addresses a sandbox may never reach, whatever its network policy says.

Refused: every address that is not globally routable (loopback, private, link-local with the cloud metadata service
169.254.169.254, CGNAT 100.64/10, documentation and reserved ranges, unspecified), multicast, the addresses of this
worker host itself (a public address of the host reaches the API, Temporal or PostgreSQL as well as loopback does),
and the control plane's own endpoints wherever they live. IPv6 forms that embed an IPv4 address (mapped, 6to4,
Teredo, NAT64) are judged by that IPv4 address.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP literal (IPv6 with or without brackets), None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` unreachable by nature, None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return _kind(inner)
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (cloud metadata lives there)"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT, "a shared (CGNAT) address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def is_local(ip: IPAddress) -> bool:
    """Whether ``ip`` is an address of this host (it can be bound to), in the worker's network namespace."""
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    try:
        probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return False  # no such address family here, so no such address of ours either
    with probe:
        try:
            probe.bind((str(ip), 0))
        except OSError as err:
            # Anything but "not an address of ours" (EADDRNOTAVAIL) counts as ours: refusing is the safe answer.
            return err.errno != errno.EADDRNOTAVAIL
    return True


@dataclass(frozen=True)
class ControlPlane:
    """The worker's own services (Temporal, the database): never a sandbox's destination, on any address.

    Attributes:
        endpoints: ``(ip, port)`` pairs the worker talks to, resolved when the worker starts.
    """

    endpoints: frozenset[tuple[IPAddress, int]] = frozenset()

    @classmethod
    def resolve(cls, addresses: list[tuple[str, int]]) -> ControlPlane:
        """Resolve ``(host, port)`` pairs (blocking: call once at startup); names that do not resolve are skipped."""
        found: set[tuple[IPAddress, int]] = set()
        for host, port in addresses:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                continue
            for info in infos:
                ip = parse_ip(str(info[4][0]))
                if ip is not None:
                    found.add((ip, port))
        return cls(frozenset(found))


def refusal(ip: IPAddress, port: int, control_plane: ControlPlane) -> str | None:
    """Why ``ip:port`` may never be reached from a sandbox, or None when it may (policy permitting)."""
    kind = _kind(ip)
    if kind is not None:
        return f"{ip} is {kind}"
    if (ip, port) in control_plane.endpoints:
        return f"{ip}:{port} is the control plane"
    if is_local(ip):
        return f"{ip} is an address of this worker host"
    return None
