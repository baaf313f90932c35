"""The egress proxy's rules on their own: host patterns, address rules, policies, targets and substitution."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
import uuid

import h11
import pytest

from activities.sandboxes.egress import ControlPlane, SessionSecret, stable_placeholder
from activities.sandboxes.egress.addresses import is_local, refusal
from activities.sandboxes.egress.policy import PACKAGE_REGISTRIES, NetworkPolicy, Refused
from activities.sandboxes.egress.substitute import Replacer, StreamReplacer, headers
from activities.sandboxes.egress.targets import BadTarget, Target, forward_target, parse_authority
from dma.hosts import InvalidHost, check_pattern, matches
from dma.settings import WorkerSettings
from tests.netlab.lab import LabInternet
from workers.main import control_plane_addresses
from workflows.contracts import SandboxSpec

NONE = ControlPlane()


@pytest.mark.parametrize(
    ("pattern", "host", "hit"),
    [
        ("internet.test", "internet.test", True),
        ("internet.test", "INTERNET.test.", True),
        ("internet.test", "www.internet.test", False),
        ("internet.test", "xinternet.test", False),
        ("*.internet.test", "www.internet.test", True),
        ("*.internet.test", "a.b.internet.test", True),
        ("*.internet.test", "internet.test", False),
        ("*.internet.test", "evilinternet.test", False),
        ("*.internet.test", "internet.test.evil.com", False),
        ("192.0.2.1", "192.0.2.1", True),
        ("192.0.2.1", "192.0.2.10", False),
    ],
)
def test_patterns_match_names_exactly_and_wildcards_below_the_apex(pattern: str, host: str, hit: bool) -> None:
    assert check_pattern(pattern) == pattern
    assert matches(pattern, host) is hit


@pytest.mark.parametrize("entry", ["http://a.com", "a.com/x", "a.com:443", "::1", "*", "a*.com", "*.1.2.3.4", "é.com"])
def test_invalid_patterns_say_why(entry: str) -> None:
    with pytest.raises(InvalidHost):
        check_pattern(entry)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.100.100.200", "CGNAT"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd00:ec2::254", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
    ],
)
def test_addresses_no_policy_can_open(address: str, why: str) -> None:
    reason = refusal(ipaddress.ip_address(address), 443, NONE)
    assert reason is not None and why in reason


def test_public_addresses_pass_unless_they_are_the_control_plane() -> None:
    public = ipaddress.ip_address("8.8.8.8")
    assert refusal(public, 443, NONE) is None
    plane = ControlPlane(frozenset({(public, 5432)}))
    assert refusal(public, 5432, plane) == "8.8.8.8:5432 is the control plane"
    assert refusal(public, 443, plane) is None


def test_the_control_plane_is_read_from_host_and_port() -> None:
    plane = ControlPlane.resolve([("127.0.0.1", 7233), ("localhost", 5432), ("no-such-host.invalid", 1)])
    assert (ipaddress.ip_address("127.0.0.1"), 7233) in plane.endpoints
    assert (ipaddress.ip_address("127.0.0.1"), 5432) in plane.endpoints


def test_addresses_of_this_host_are_refused_even_when_public(internet: LabInternet) -> None:
    assert is_local(ipaddress.ip_address(internet.gateway_ip))
    assert not is_local(ipaddress.ip_address(internet.host_ip))
    # A public address on an interface of the worker's host: shown in a namespace of its own, so the machine's own
    # routing is never touched.
    namespace = f"dma-local-{uuid.uuid4().hex[:6]}"
    script = (
        "import ipaddress; from activities.sandboxes.egress.addresses import refusal, ControlPlane; "
        "print(refusal(ipaddress.ip_address('8.8.4.4'), 80, ControlPlane()))"
    )
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for args in (["addr", "add", "8.8.4.4/32", "dev", "lo"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", namespace, *args], check=True)
        out = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", script], check=True, capture_output=True, text=True
        )
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    assert out.stdout.strip() == "8.8.4.4 is an address of this worker host"


def test_limited_policies_add_registries_mirrors_and_mcp_hosts_only_when_allowed() -> None:
    base = {"session_id": "s", "networking": "limited", "allowed_hosts": ["api.example.com"], "mcp_hosts": ["mcp.x.io"]}
    plain = NetworkPolicy.of_spec(SandboxSpec(**base), NONE, ("mirror.corp",))  # pyright: ignore[reportArgumentType]
    assert plain.allowed == ("api.example.com",)
    full = NetworkPolicy.of_spec(
        SandboxSpec(**base, allow_package_managers=True, allow_mcp_servers=True),  # pyright: ignore[reportArgumentType]
        NONE,
        ("mirror.corp",),
    )
    assert set(full.allowed) == {"api.example.com", *PACKAGE_REGISTRIES, "mirror.corp", "mcp.x.io"}
    full.check_name("pypi.org")
    full.check_name("MCP.x.io")
    with pytest.raises(Refused) as refused:
        plain.check_name("pypi.org")
    assert str(refused.value) == "Refused by the sandbox's network policy (limited): pypi.org is not in allowed_hosts."
    NetworkPolicy.of_spec(SandboxSpec(session_id="s"), NONE).check_name("anything.example")


def test_the_spec_carries_the_environments_networking_and_the_agents_mcp_hosts() -> None:
    config = {
        "type": "cloud",
        "networking": {"type": "limited", "allowed_hosts": ["a.io"], "allow_mcp_servers": True},
        "packages": {"type": "packages", "pip": ["x"], "npm": []},
    }
    agent = {"mcp_servers": [{"type": "url", "name": "m", "url": "https://MCP.Example.com:8443/sse"}, {"bad": 1}]}
    spec = SandboxSpec.of_session("s", config, agent)
    assert (spec.networking, spec.allowed_hosts, spec.allow_mcp_servers) == ("limited", ["a.io"], True)
    assert spec.mcp_hosts == ["mcp.example.com"] and not spec.allow_package_managers
    assert spec.packages == {"pip": ["x"]}
    assert SandboxSpec.of_session("s", None, None).networking == "unrestricted"


@pytest.mark.parametrize(
    ("raw", "target"),
    [
        (b"internet.test:443", Target("internet.test", 443)),
        (b"10.0.0.1:8080", Target("10.0.0.1", 8080)),
        (b"[::1]:5432", Target("::1", 5432)),
        (b"[::ffff:127.0.0.1]:80", Target("::ffff:127.0.0.1", 80)),
    ],
)
def test_connect_targets(raw: bytes, target: Target) -> None:
    assert parse_authority(raw) == target


@pytest.mark.parametrize("raw", [b"internet.test", b"a b:80", b"x:99999", b"x:-1", b"..:80", b"\xff:80", b"a@b:80"])
def test_unreadable_connect_targets(raw: bytes) -> None:
    with pytest.raises(BadTarget):
        parse_authority(raw)


def _request(target: bytes, host: bytes = b"h") -> h11.Request:
    return h11.Request(method="GET", target=target, headers=[("Host", host)])


def test_forwarded_targets_come_from_the_url_never_the_host_header() -> None:
    assert forward_target(_request(b"http://127.0.0.1:8080/x?y=1", b"internet.test")) == (
        Target("127.0.0.1", 8080),
        b"/x?y=1",
    )
    assert forward_target(_request(b"/path", b"internet.test:81")) == (Target("internet.test", 81), b"/path")
    for bad in (b"https://a.test/", b"ftp://a.test/", b"http://user:pw@a.test/"):
        with pytest.raises(BadTarget):
            forward_target(_request(bad))


def _secret(name: str, value: str) -> SessionSecret:
    return SessionSecret(name, f"dma-placeholder-{name}-0123456789abcdef", value, None, header=True, body=True)


def test_streamed_bodies_are_substituted_across_every_cut() -> None:
    one, two = _secret("one", "REAL-ONE"), _secret("two", "R2")
    body = f"a{one.placeholder}b{two.placeholder}{one.placeholder}c".encode()
    expected = b"aREAL-ONEbR2REAL-ONEc"
    for cut in range(len(body) + 1):
        for second in range(cut, len(body) + 1, 7):
            stream = StreamReplacer(Replacer([one, two]))
            out = stream.feed(body[:cut]) + stream.feed(body[cut:second]) + stream.feed(body[second:])
            assert out + stream.finish() == expected, (cut, second)


def test_header_values_and_basic_credentials_are_substituted() -> None:
    secret = _secret("k", "s3cret")
    basic = base64.b64encode(f"user:{secret.placeholder}".encode())
    out = headers([(b"authorization", b"Basic " + basic), (b"x-key", secret.placeholder.encode())], Replacer([secret]))
    assert out == [(b"authorization", b"Basic " + base64.b64encode(b"user:s3cret")), (b"x-key", b"s3cret")]
    assert headers([(b"authorization", b"Basic !!notbase64")], Replacer([secret])) == [
        (b"authorization", b"Basic !!notbase64")
    ]


def test_the_workers_control_plane_is_temporal_the_database_and_the_listed_endpoints() -> None:
    settings = WorkerSettings(
        temporal_address="temporal.internal:7233",
        database_url="postgresql://u:p@db.internal:5433/dma",
        control_plane_endpoints="api.example.com:443, [2001:db8::1]:8787",  # pyright: ignore[reportArgumentType]
    )
    assert control_plane_addresses(settings) == [
        ("temporal.internal", 7233),
        ("api.example.com", 443),
        ("2001:db8::1", 8787),
        ("db.internal", 5433),
    ]
    sqlite = WorkerSettings(temporal_address="127.0.0.1:7233", database_url="sqlite:///x.db")
    assert control_plane_addresses(sqlite) == [("127.0.0.1", 7233)]


def test_stable_placeholders_depend_on_session_and_credential() -> None:
    one = stable_placeholder("API_KEY", "sesn_a", "vcrd_1")
    assert one == stable_placeholder("API_KEY", "sesn_a", "vcrd_1") and one.startswith("dma-placeholder-api_key-")
    assert (
        len({one, stable_placeholder("API_KEY", "sesn_b", "vcrd_1"), stable_placeholder("API_KEY", "sesn_a", "v")}) == 3
    )
