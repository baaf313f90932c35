"""Host patterns of network policies (``allowed_hosts``): what a valid entry is and which names it matches.

An entry is a bare hostname (``api.example.com``), an IPv4 address (``192.0.2.1``) or a ``*.`` wildcard
(``*.example.com``), as the SDK documents for credential networking. A wildcard matches every name below its apex at
any depth (``a.example.com``, ``a.b.example.com``) but never the apex itself. Matching ignores case; URLs, ports,
paths, IPv6 addresses and non-ASCII names (use the ``xn--`` form) are not entries. Shared by the API (validation) and
the sandbox egress proxy (matching), so both read an entry the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

MAX_NAME = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class InvalidHost(ValueError):
    """An ``allowed_hosts`` entry that is not a hostname, an IPv4 address or a ``*.`` wildcard."""


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _check_name(name: str, entry: str) -> None:
    if not name.isascii():
        raise InvalidHost(f"{entry!r} is not ASCII: write internationalized names in their xn-- form")
    labels = name.split(".")
    if len(name) > MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise InvalidHost(f"{entry!r} is not a hostname (letters, digits, '-' and '_' in dot-separated labels)")
    if labels[-1].isdigit() and not _is_ipv4(name):
        raise InvalidHost(f"{entry!r} is neither a hostname nor an IPv4 address")


def check_pattern(entry: str) -> str:
    """``entry`` if it is a valid ``allowed_hosts`` entry.

    Raises:
        InvalidHost: naming what is wrong (a URL, a port, a path, an IPv6 address, a misplaced ``*``, ...).
    """
    if "://" in entry or "/" in entry:
        raise InvalidHost(f"{entry!r} is a URL or path: give the bare hostname")
    if ":" in entry:
        raise InvalidHost(f"{entry!r} has a port or is an IPv6 address: give a bare hostname or IPv4 address")
    lowered = entry.lower()
    name = lowered[2:] if lowered.startswith("*.") else lowered
    if "*" in name:
        raise InvalidHost(f"{entry!r}: a wildcard is only allowed as a leading '*.'")
    if lowered.startswith("*.") and _is_ipv4(name):
        raise InvalidHost(f"{entry!r}: an IPv4 address cannot take a wildcard")
    _check_name(name, entry)
    return entry


def normalize_name(host: str) -> str:
    """A hostname as patterns see it: lowercase, without a trailing dot."""
    return host.lower().rstrip(".")


def matches(pattern: str, host: str) -> bool:
    """Whether ``host`` (a name or an IPv4 literal from a request) is covered by the valid entry ``pattern``."""
    name = normalize_name(host)
    lowered = pattern.lower()
    if lowered.startswith("*."):
        return name.endswith(lowered[1:]) and len(name) > len(lowered) - 1
    return name == lowered


def matches_any(patterns: Iterable[str], host: str) -> bool:
    """Whether any of ``patterns`` covers ``host``."""
    return any(matches(pattern, host) for pattern in patterns)
