"""The escape suite, on both backends: every way around or through the proxy to somewhere a sandbox must not go is
refused, and nothing reaches the stand-ins for the control plane or the test host.

Run under ``unrestricted`` (the widest policy: what it refuses, ``limited`` refuses too), and the allowed-name cases
under ``limited``. The test host sits at a private address that only the test upstream's mapping of its names may
reach, so its address as a literal is refused like any private address.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from activities.sandboxes import SandboxManager
from tests.netlab.lab import LabInternet
from tests.sandboxes.fixtures import Caller, new_session_id
from tests.sandboxes.test_abuse import listener
from workflows.contracts import SandboxSpec

PROBE = Path(__file__).with_name("egress_probe.py")
ALWAYS = "Refused by the sandbox's network policy (always enforced)"
# The control plane's usual ports (PostgreSQL, Temporal, its UI, the API): refused on every address whether or not
# anything listens there.
CONTROL_PORTS = (5432, 7233, 8233, 8787)


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], check=True, capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line]


def connect(target: str, host: str | None = None) -> str:
    return f"CONNECT {target} HTTP/1.1\r\nHost: {host or target}\r\n\r\n"


def get(url: str, host: str) -> str:
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


def _always_refused(internet: LabInternet, ports: list[int]) -> list[dict[str, Any]]:
    """Proxy requests the address rules refuse, with the words their answer must contain."""
    cases: list[tuple[str, str, str]] = []
    for port in ports:
        cases += [
            (f"loopback-get-{port}", get(f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}"), "loopback"),
            (f"loopback-connect-{port}", connect(f"127.0.0.1:{port}"), "loopback"),
            (f"localhost-connect-{port}", connect(f"localhost:{port}"), "localhost resolves to 127.0.0.1"),
            (f"v6-loopback-{port}", connect(f"[::1]:{port}"), "loopback"),
            (f"v4-mapped-{port}", connect(f"[::ffff:127.0.0.1]:{port}"), "loopback"),
            (f"unspecified-{port}", connect(f"0.0.0.0:{port}"), "unspecified"),
            (
                f"name-to-loopback-{port}",
                get(f"http://loopback.test:{port}/", "loopback.test"),
                "resolves to 127.0.0.1",
            ),
        ]
        cases += [(f"host-{ip}-{port}", connect(f"{ip}:{port}"), ip) for ip in _host_addresses()]
    cases += [
        ("metadata-get", get("http://169.254.169.254/latest/meta-data/", "169.254.169.254"), "link-local"),
        ("metadata-connect", connect("169.254.169.254:80"), "link-local"),
        ("metadata-name", connect("metadata.test:80"), "metadata.test resolves to 169.254.169.254"),
        ("metadata-cgnat", connect("100.100.100.200:80"), "CGNAT"),
        ("metadata-v6", connect("[fd00:ec2::254]:80"), "private"),
        ("private-10", connect("10.0.0.1:80"), "private"),
        ("private-192", connect("192.168.1.1:443"), "private"),
        ("private-gateway", connect(f"{internet.gateway_ip}:80"), "private"),
        ("private-name", connect("private.test:80"), f"private.test resolves to {internet.gateway_ip}"),
        ("test-host-literal-get", get(f"http://{internet.host_ip}/hello", "internet.test"), "private"),
        ("test-host-literal-connect", connect(f"{internet.host_ip}:443", "internet.test:443"), "private"),
        ("name-to-loopback-tls", connect("loopback.test:443"), "loopback.test resolves to 127.0.0.1"),
    ]
    return [{"name": name, "kind": "proxy", "raw": raw, "expect": expect} for name, raw, expect in cases]


def _bypasses(internet: LabInternet, ports: list[int]) -> list[dict[str, Any]]:
    """Attempts that skip the proxy: raw TCP, UDP and DNS straight out."""
    cases: list[dict[str, Any]] = []
    for host in (internet.host_ip, internet.gateway_ip, *_host_addresses()):
        cases += [
            {"name": f"raw-{host}-80", "kind": "connect", "host": host, "port": 80},
            {"name": f"raw-{host}-443", "kind": "connect", "host": host, "port": 443},
            {"name": f"udp-{host}-53", "kind": "udp", "host": host, "port": 53},
        ]
    cases += [{"name": f"raw-host-loopback-{p}", "kind": "connect", "host": "127.0.0.1", "port": p} for p in ports]
    cases += [
        {"name": "udp-public-dns", "kind": "udp", "host": "8.8.8.8", "port": 53},
        {"name": "dns-test-name", "kind": "resolve", "host": "internet.test"},
        {"name": "dns-public-name", "kind": "resolve", "host": "example.com"},
    ]
    return cases


async def _probe(call: Caller, cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert not (await call("write", file_path="probe.py", content=PROBE.read_text())).is_error
    assert not (await call("write", file_path="cases.json", content=json.dumps(cases))).is_error
    result = await call.bash("python3 probe.py cases.json", timeout_ms=600000)
    lines = [json.loads(line) for line in result.full_text.splitlines() if line.startswith("{")]
    assert len(lines) == len(cases), result.full_text[-3000:]
    return {line["name"]: line for line in lines}


def _listeners(stack: ExitStack) -> tuple[list[int], list[list[str]]]:
    """Stand-ins for the API, Temporal and PostgreSQL on the host's loopback and on all its addresses."""
    ports: list[int] = []
    seen: list[list[str]] = []
    for host in ("127.0.0.1", "0.0.0.0"):
        port, accepted = stack.enter_context(listener(host))
        ports.append(port)
        seen.append(accepted)
    return ports, seen


def _sandbox(manager: SandboxManager, networking: str, hosts: list[str]) -> Caller:
    call = Caller(manager, new_session_id())
    call.spec = SandboxSpec(session_id=call.spec.session_id, networking=networking, allowed_hosts=hosts)  # pyright: ignore[reportArgumentType]
    return call


def _assert_refused(results: dict[str, dict[str, Any]], cases: list[dict[str, Any]]) -> None:
    for case in cases:
        got = results[case["name"]]
        assert got["outcome"] == "answered" and got["status"].startswith("HTTP/1.1 403 "), (case["name"], got)
        assert ALWAYS in got["body"] and case["expect"] in got["body"], (case["name"], got)
        assert "X-Dma-Egress-Policy: always enforced" in got["headers"], (case["name"], got)


async def test_every_escape_is_refused(net_manager: SandboxManager, internet: LabInternet) -> None:
    call = _sandbox(net_manager, "unrestricted", [])
    with ExitStack() as stack:
        ports, seen = _listeners(stack)
        refused = _always_refused(internet, [*ports, *CONTROL_PORTS])
        bypasses = _bypasses(internet, ports)
        mark = internet.mark()
        results = await _probe(call, [*refused, *bypasses])
    _assert_refused(results, refused)
    for case in bypasses:
        got = results[case["name"]]
        assert got["outcome"] == "failed", (case["name"], got)
    unreachable = [
        results[c["name"]]["detail"] for c in bypasses if c["kind"] != "resolve" and "loopback" not in c["name"]
    ]
    assert all("Network is unreachable" in detail for detail in unreachable), unreachable
    assert seen == [[], []], "nothing reached the control plane's stand-ins"
    assert internet.since(mark) == [], "nothing reached the test host"
    await net_manager.destroy(call.spec.session_id)


async def test_allowed_names_do_not_open_refused_addresses(net_manager: SandboxManager, internet: LabInternet) -> None:
    call = _sandbox(net_manager, "limited", ["internet.test", "loopback.test"])
    with ExitStack() as stack:
        (port, _), (seen, _) = _listeners(stack)
        cases = [
            ("connect-literal-with-allowed-host", connect(f"{internet.host_ip}:443", "internet.test:443"), "private"),
            ("connect-loopback-with-allowed-host", connect("127.0.0.1:443", "internet.test:443"), "loopback"),
            ("get-loopback-with-allowed-host", get(f"http://127.0.0.1:{port}/", "internet.test"), "loopback"),
            ("allowed-name-to-loopback", connect(f"loopback.test:{port}"), "resolves to 127.0.0.1"),
        ]
        refused = [{"name": n, "kind": "proxy", "raw": raw, "expect": e} for n, raw, e in cases]
        mark = internet.mark()
        results = await _probe(call, refused)
    _assert_refused(results, refused)
    assert seen == [] and internet.since(mark) == []
    await net_manager.destroy(call.spec.session_id)


async def test_redirects_to_refused_hosts_are_refused(net_manager: SandboxManager, internet: LabInternet) -> None:
    call = _sandbox(net_manager, "limited", ["internet.test", "loopback.test"])
    assert not (await call("write", file_path="ca.pem", content=internet.pki.ca_file.read_text())).is_error
    with ExitStack() as stack:
        (port, _), (seen, _) = _listeners(stack)
        redirects = {
            "http://169.254.169.254/latest/meta-data/": ALWAYS,
            f"http://loopback.test:{port}/": ALWAYS,
            "http://other.test/hello": "Refused by the sandbox's network policy (limited): other.test",
        }
        mark = internet.mark()
        for target, refusal in redirects.items():
            followed = await call.bash(f"curl -sS -L 'http://internet.test/redirect?to={target}'")
            assert refusal in followed.text_for_model, followed.text_for_model
            secure = await call.bash(f"curl -sS -v -L --cacert ca.pem 'https://internet.test/redirect?to={target}'")
            assert "403 Forbidden (network policy" in secure.text_for_model, secure.text_for_model
    assert seen == []
    paths = [str(entry["path"]) for entry in internet.since(mark)]
    assert len(paths) == 2 * len(redirects) and all(p.startswith("/redirect?") for p in paths), paths
    await net_manager.destroy(call.spec.session_id)


async def test_oversized_headers_are_refused(net_manager: SandboxManager, internet: LabInternet) -> None:
    call = _sandbox(net_manager, "unrestricted", [])
    big = "a" * 70000
    many = "".join(f"X-H{i}: {'b' * 100}\r\n" for i in range(800))
    cases = [
        ("big-get", f"GET http://internet.test/hello HTTP/1.1\r\nHost: internet.test\r\nX-Big: {big}\r\n\r\n"),
        ("big-connect", f"CONNECT internet.test:443 HTTP/1.1\r\nHost: internet.test\r\nX-Big: {big}\r\n\r\n"),
        ("many-headers", f"GET http://internet.test/hello HTTP/1.1\r\nHost: internet.test\r\n{many}\r\n"),
    ]
    mark = internet.mark()
    results = await _probe(call, [{"name": n, "kind": "proxy", "raw": raw} for n, raw in cases])
    for name, _ in cases:
        got = results[name]
        assert got["outcome"] == "answered" and got["status"].startswith("HTTP/1.1 431 "), (name, got)
        assert "64 KiB" in got["body"], got
    assert internet.since(mark) == []
    fine = await call.bash(f"curl -sS -H 'X-Fine: {'c' * 8000}' http://internet.test/hello")
    assert "hello from the test internet" in fine.text_for_model
    await net_manager.destroy(call.spec.session_id)
