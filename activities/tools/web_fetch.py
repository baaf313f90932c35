"""``web_fetch``: HTTP(S) to readable text on the worker, with SSRF protection.

Every hop's host is checked against the tool config's domain lists, resolved once, and refused unless every address
is public (no loopback, private / ULA, link-local / cloud metadata, CGNAT, multicast, reserved or unspecified
addresses). The request then goes to that vetted address (Host header and TLS SNI carry the name, so certificates
are still checked against it), which rules out DNS rebinding between check and connect. Redirects are followed by
hand, at most ``MAX_REDIRECTS``, each one checked again. Proxy environment variables are ignored on purpose: a proxy
would connect to whatever it resolves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from activities.tools.html_text import html_to_text
from activities.tools.inputs import ValidationError, WebFetchInput, describe
from activities.tools.outcome import ToolOutcome

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_CHARS = 100_000
CHARS_PER_TOKEN = 4
TEXTUAL = ("json", "xml", "javascript", "yaml", "csv", "markdown")
USER_AGENT = "dma-web-fetch/1.0"


class FetchRefused(Exception):
    """The URL may not be fetched; the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(text: str) -> bool:
    """Whether an address is globally routable (and so no way into the host or its private networks)."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
        elif address in ipaddress.ip_network("64:ff9b::/96"):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
    )


def _domain_matches(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (d.lower().rstrip(".") for d in domains))


def check_url(url: str, config: dict[str, Any]) -> httpx.URL:
    """The parsed URL if its scheme and host pass the tool config; ``FetchRefused`` otherwise."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise FetchRefused(f"invalid URL: {err}") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused("only http and https URLs can be fetched")
    if not parsed.host:
        raise FetchRefused("the URL has no host")
    if parsed.userinfo:
        raise FetchRefused("URLs with credentials are not fetched")
    host = parsed.host.lower().rstrip(".")
    allowed: list[str] | None = config.get("allowed_domains")
    blocked: list[str] | None = config.get("blocked_domains")
    if allowed and not _domain_matches(host, allowed):
        raise FetchRefused(f"{host} is not in the allowed domains")
    if blocked and _domain_matches(host, blocked):
        raise FetchRefused(f"{host} is in the blocked domains")
    return parsed


class WebFetcher:
    """Fetches URLs for the ``web_fetch`` tool."""

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 20.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """Configure the fetcher.

        Args:
            resolver: Name to addresses (injectable so tests need no DNS).
            transport: httpx transport (injectable so tests can reach a local server behind a public-looking address).
            timeout: Per-request timeout in seconds.
            max_body_bytes: Bytes read from a response at most.
        """
        self._resolver = resolver
        self._transport = transport
        self._timeout = timeout
        self._max_body = max_body_bytes

    async def run(self, raw: dict[str, Any], config: dict[str, Any]) -> ToolOutcome:
        """The ``web_fetch`` tool: the page at ``raw["url"]`` as text, or an error result."""
        try:
            args = WebFetchInput.model_validate(raw)
        except ValidationError as err:
            return ToolOutcome.error(describe("web_fetch", err))
        tokens = config.get("max_content_tokens")
        max_chars = int(tokens) * CHARS_PER_TOKEN if isinstance(tokens, int) and tokens > 0 else DEFAULT_MAX_CHARS
        try:
            return await self._fetch(args.url, config, max_chars)
        except FetchRefused as err:
            return ToolOutcome.error(f"Refused to fetch {args.url}: {err}")
        except httpx.HTTPError as err:
            return ToolOutcome.error(f"Fetching {args.url} failed: {type(err).__name__}: {err}")

    async def _vetted_address(self, url: httpx.URL) -> str:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [url.host] if _is_ip(url.host) else await self._resolver(url.host, port)
        except OSError as err:
            raise FetchRefused(f"cannot resolve {url.host}: {err}") from None
        if not addresses:
            raise FetchRefused(f"{url.host} has no address")
        private = [address for address in addresses if not is_public_address(address)]
        if private:
            raise FetchRefused(f"{url.host} resolves to a non-public address ({private[0]})")
        return addresses[0]

    async def _fetch(self, url: str, config: dict[str, Any], max_chars: int) -> ToolOutcome:
        async with httpx.AsyncClient(
            transport=self._transport, follow_redirects=False, trust_env=False, timeout=self._timeout
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = check_url(url, config)
                address = await self._vetted_address(target)
                headers = {"Host": target.netloc.decode("ascii"), "User-Agent": USER_AGENT, "Accept": "*/*"}
                extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
                request = client.build_request(
                    "GET", target.copy_with(host=address), headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        url = str(target.join(location))
                        continue
                    body = await _read_capped(response, self._max_body)
                finally:
                    await response.aclose()
                return _render(str(target), response, body, max_chars)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)


def _render(url: str, response: httpx.Response, body: bytes, max_chars: int) -> ToolOutcome:
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    textual = content_type.startswith("text/") or any(kind in content_type for kind in TEXTUAL)
    if not textual and (content_type or b"\0" in body[:4096]):
        return ToolOutcome.error(f"{url} returned {content_type or 'binary content'}, which cannot be shown as text")
    try:
        text = body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    if "html" in content_type:
        text = html_to_text(text)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n\n[... content truncated at {max_chars} characters ...]"
    header = f"URL: {url}\nStatus: {response.status_code}\nContent-Type: {content_type or 'unknown'}\n\n"
    return ToolOutcome.of(header + text, is_error=response.status_code >= 400)
