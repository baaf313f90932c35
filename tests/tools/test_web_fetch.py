"""web_fetch: readable text, domain lists, and SSRF protection, against a local HTTP server (no internet needed).

A public-looking name resolves (through an injected resolver) to a public-looking address; a test transport then
carries requests for that address to the local server, so every check runs on the real code path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from activities.tools.web_fetch import WebFetcher, is_public_address
from activities.tools.web_search import SearchResult, run_web_search

PUBLIC_IP = "93.184.215.14"
PUBLIC_NAME = "docs.example.com"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        routes = {
            "/page": (200, "text/html; charset=utf-8", b"<html><head><title>Hello page</title><style>p{}</style>"
                      b"</head><body><h1>Heading</h1><p>First <b>para</b>.</p><script>evil()</script></body></html>"),
            "/plain": (200, "text/plain", b"x" * 10_000),
            "/binary": (200, "application/octet-stream", b"\x00\x01\x02"),
            "/missing": (404, "text/plain", b"not here"),
        }  # fmt: skip
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        status, content_type, body = routes.get(self.path, (404, "text/plain", b"?"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


class ToLocal(httpx.AsyncBaseTransport):
    """Delivers requests for PUBLIC_IP to the local server and records what was asked for."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[str, str]] = []
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.host, request.headers["host"]))
        assert request.url.host == PUBLIC_IP, "only vetted addresses may be dialled"
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)


def resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        del port
        return table.get(host, [])

    return resolve


@pytest.fixture
def transport(server: int) -> ToLocal:
    return ToLocal(server)


@pytest.fixture
def fetcher(transport: ToLocal) -> WebFetcher:
    table = {PUBLIC_NAME: [PUBLIC_IP], "other.example.org": [PUBLIC_IP], "evil.example.net": ["10.0.0.7"]}
    return WebFetcher(resolver=resolver(table), transport=transport)


async def test_fetches_html_as_text_through_the_vetted_address(fetcher: WebFetcher, transport: ToLocal) -> None:
    outcome = await fetcher.run({"url": f"http://{PUBLIC_NAME}/page"}, {})
    assert not outcome.is_error, outcome.text_for_model
    assert "Hello page" in outcome.text_for_model and "Heading" in outcome.text_for_model
    assert "First para." in outcome.text_for_model and "evil()" not in outcome.text_for_model
    assert transport.seen == [(PUBLIC_IP, PUBLIC_NAME)]


async def test_loopback_is_refused_with_the_real_resolver(server: int) -> None:
    fetcher = WebFetcher()
    for url in (f"http://127.0.0.1:{server}/page", f"http://localhost:{server}/page", "http://[::1]/"):
        outcome = await fetcher.run({"url": url}, {})
        assert outcome.is_error and "non-public address" in outcome.text_for_model, url


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.1.1/", "http://0.0.0.0/",
     "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/", "http://evil.example.net/"],
)  # fmt: skip
async def test_private_and_special_addresses_are_refused(fetcher: WebFetcher, transport: ToLocal, url: str) -> None:
    outcome = await fetcher.run({"url": url}, {})
    assert outcome.is_error and "Refused" in outcome.text_for_model
    assert transport.seen == []


async def test_a_name_with_any_private_address_is_refused(transport: ToLocal) -> None:
    fetcher = WebFetcher(resolver=resolver({PUBLIC_NAME: [PUBLIC_IP, "127.0.0.1"]}), transport=transport)
    outcome = await fetcher.run({"url": f"http://{PUBLIC_NAME}/page"}, {})
    assert outcome.is_error and transport.seen == []


async def test_redirects_are_rechecked(fetcher: WebFetcher, transport: ToLocal, server: int) -> None:
    for target in (f"http://127.0.0.1:{server}/page", "http://10.1.2.3/", "http://evil.example.net/x"):
        outcome = await fetcher.run({"url": f"http://{PUBLIC_NAME}/redirect?to={target}"}, {})
        assert outcome.is_error and "non-public" in outcome.text_for_model, target
    followed = await fetcher.run({"url": f"http://{PUBLIC_NAME}/redirect?to=http://other.example.org/page"}, {})
    assert not followed.is_error and "URL: http://other.example.org/page" in followed.text_for_model
    assert transport.seen[-1] == (PUBLIC_IP, "other.example.org")
    looping = await fetcher.run({"url": f"http://{PUBLIC_NAME}/loop"}, {})
    assert looping.is_error and "more than 5 redirects" in looping.text_for_model


async def test_domain_lists(fetcher: WebFetcher) -> None:
    url = {"url": f"http://{PUBLIC_NAME}/page"}
    assert not (await fetcher.run(url, {"allowed_domains": ["example.com"]})).is_error
    assert (await fetcher.run(url, {"allowed_domains": ["example.org"]})).is_error
    assert (await fetcher.run(url, {"blocked_domains": ["example.com"]})).is_error
    redirected = {"url": f"http://{PUBLIC_NAME}/redirect?to=http://other.example.org/page"}
    assert (await fetcher.run(redirected, {"allowed_domains": ["example.com"]})).is_error


async def test_limits_schemes_and_content(fetcher: WebFetcher) -> None:
    clipped = await fetcher.run({"url": f"http://{PUBLIC_NAME}/plain"}, {"max_content_tokens": 100})
    assert "content truncated at 400 characters" in clipped.text_for_model
    assert (await fetcher.run({"url": f"http://{PUBLIC_NAME}/binary"}, {})).is_error
    missing = await fetcher.run({"url": f"http://{PUBLIC_NAME}/missing"}, {})
    assert missing.is_error and "Status: 404" in missing.text_for_model
    for url in ("file:///etc/passwd", "ftp://x/", f"http://user:pw@{PUBLIC_NAME}/page", "not a url"):
        assert (await fetcher.run({"url": url}, {})).is_error, url
    assert (await fetcher.run({}, {})).is_error


def test_address_classification() -> None:
    assert is_public_address("93.184.215.14") and is_public_address("2606:4700::1111")
    blocked = "127.0.0.1 10.1.1.1 172.16.0.1 192.168.0.1 169.254.169.254 100.64.0.1 0.0.0.0 :: ::1 fe80::1 fc00::1"
    for address in [*blocked.split(), "::ffff:10.0.0.1", "64:ff9b::a00:1", "239.1.1.1", "2002:0a00:0001::1"]:
        assert not is_public_address(address), address


class FakeSearch:
    async def search(
        self, query: str, *, allowed_domains: list[str] | None, blocked_domains: list[str] | None, max_results: int
    ) -> list[SearchResult]:
        del allowed_domains, blocked_domains, max_results
        return [
            SearchResult(f"{query} docs", "https://docs.python.org/3/", "The docs"),
            SearchResult("spam", "https://spam.example.com/", "buy"),
        ]


async def test_web_search_backend_and_filters() -> None:
    missing = await run_web_search(None, {"query": "x"}, {})
    assert missing.is_error and "no search backend" in missing.text_for_model
    found = await run_web_search(FakeSearch(), {"query": "python"}, {"blocked_domains": ["example.com"]})
    assert "python docs" in found.text_for_model and "spam" not in found.text_for_model
    assert (await run_web_search(FakeSearch(), {}, {})).is_error
