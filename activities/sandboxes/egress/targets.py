"""Where a request to the proxy wants to go: a CONNECT authority, or a forwarded request's absolute URL or Host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from activities.sandboxes.egress.addresses import parse_ip
from activities.sandboxes.egress.http1 import header

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,253}$")


class BadTarget(Exception):
    """The request names no destination the proxy can read (the message says what is wrong)."""


@dataclass(frozen=True)
class Target:
    """A destination: ``host`` as the sandbox named it (a name or an IP literal without brackets) and ``port``."""

    host: str
    port: int

    @property
    def authority(self) -> bytes:
        """``host[:port]`` as a ``Host`` header carries it (port 80 and 443 left out)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (host if self.port in (80, 443) else f"{host}:{self.port}").encode()


def _host(text: str) -> str:
    if parse_ip(text) is not None and ":" in text.strip("[]"):
        return text.strip("[]")
    if not NAME.match(text) or text.startswith(".") or ".." in text:
        raise BadTarget(f"{text!r} is not a hostname or IP address")
    return text


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadTarget(f"{text!r} is not a port")
    return int(text)


def parse_authority(raw: bytes, default_port: int | None = None) -> Target:
    """``host:port`` (``[v6]:port``); the port may be left out only when ``default_port`` is given."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise BadTarget("the destination is not ASCII") from err
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not port:
        if default_port is None:
            raise BadTarget(f"CONNECT {text!r} names no port")
        return Target(_host(host), default_port)
    return Target(_host(host), _port(port))


def forward_target(request: h11.Request) -> tuple[Target, bytes]:
    """The destination of a request to forward, and the origin-form target to send it with."""
    target = bytes(request.target)
    if target.startswith(b"/"):
        host = header(list(request.headers), b"host")
        if host is None:
            raise BadTarget("a request without an absolute URL needs a Host header")
        return parse_authority(host, 80), target
    try:
        url = urlsplit(target.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadTarget("the request URL cannot be read") from err
    if url.scheme.lower() != "http":
        raise BadTarget(f"the proxy forwards http:// URLs; use CONNECT for {url.scheme or 'this'}")
    if "@" in url.netloc:
        raise BadTarget("credentials in the URL are not forwarded")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return parse_authority(url.netloc.encode(), 80), path.encode()


def host_matches(request: h11.Request, target: Target) -> bool:
    """Whether a request inside a tunnel names the tunnel's own host and port in its ``Host`` (or names none)."""
    value = header(list(request.headers), b"host")
    if value is None:
        return True
    try:
        named = parse_authority(value, target.port)
    except BadTarget:
        return False
    return named.host.lower().rstrip(".") == target.host.lower().rstrip(".") and named.port == target.port
