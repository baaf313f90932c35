"""``environment_variable`` credentials at the proxy, on both backends: the sandbox holds placeholders, requests to a
credential's hosts get the real value (headers and/or body per ``injection_location``), requests anywhere else keep
the placeholder and travel in tunnels the proxy does not open, and the real values are nowhere in the sandbox (its
environment, every process's, its files) nor in the worker's logs."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

import pytest

from activities.sandboxes import SandboxManager
from activities.sandboxes.egress import SessionSecret, new_placeholder
from tests.netlab.fixtures import LabCredentials
from tests.netlab.lab import LabInternet
from tests.sandboxes.canaries import Canaries
from tests.sandboxes.fixtures import Caller, new_session_id

# A client that sends its body in chunks cut inside the placeholder (the proxy must substitute across the cut).
CHUNKED = r"""
import http.client, os, ssl
token = os.environ["API_TOKEN"].encode()
conn = http.client.HTTPSConnection("127.0.0.1", 3128, context=ssl.create_default_context())
conn.set_tunnel("internet.test", 443)
cut = len(token) // 2
chunks = [b"start " + token[:cut], token[cut:] + b" middle " + token[:3], token[3:], b" end"]
conn.request("POST", "/record", body=iter(chunks))
print(conn.getresponse().read().decode(), end="")
"""


@dataclass(frozen=True)
class Secrets:
    canaries: Canaries
    header_and_body: SessionSecret
    body_only: SessionSecret


def _secrets(credentials: LabCredentials, session_id: str) -> Secrets:
    canaries = Canaries(uuid.uuid4().hex)
    both = SessionSecret(
        "API_TOKEN", new_placeholder("API_TOKEN"), canaries.value("token"), ("internet.test",), header=True, body=True
    )
    body = SessionSecret(
        "BODY_KEY", new_placeholder("BODY_KEY"), canaries.value("body"), ("*.test",), header=False, body=True
    )
    credentials.by_session[session_id] = [both, body]
    return Secrets(canaries, both, body)


def _header(entry: dict[str, object], name: str) -> str | None:
    headers = entry["headers"]
    assert isinstance(headers, list)
    return next((str(v) for k, v in headers if str(k).lower() == name), None)  # pyright: ignore[reportUnknownVariableType]


async def test_placeholders_are_substituted_only_on_their_hosts(
    net_manager: SandboxManager, internet: LabInternet, credentials: LabCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    call = Caller(net_manager, new_session_id(), networking="unrestricted")
    s = _secrets(credentials, call.spec.session_id)
    real, real_body = s.header_and_body.secret_value, s.body_only.secret_value
    assert not (await call("write", file_path="test-ca.pem", content=internet.pki.ca_file.read_text())).is_error
    assert not (await call("write", file_path="chunked.py", content=CHUNKED)).is_error
    auth = '-H "Authorization: Bearer $API_TOKEN" -H "X-Body-Key: $BODY_KEY"'
    mark = internet.mark()
    commands = [
        f'curl -sS {auth} --data "a=$API_TOKEN&b=$BODY_KEY" https://internet.test/record',
        'curl -sS -u "me:$API_TOKEN" https://internet.test/record',
        "python3 chunked.py",
        f'curl -sS {auth} --data "a=$API_TOKEN&b=$BODY_KEY" https://other.test/record',
        f'curl -sS {auth} --data "a=$API_TOKEN" http://internet.test/record',
        'curl -sS -H "Host: other.test" -H "Authorization: Bearer $API_TOKEN" https://internet.test/record',
    ]
    outputs = [(await call.bash(command)).text_for_model for command in commands]
    assert outputs[:5] == ["recorded"] * 5, outputs
    assert "names another host (other.test)" in outputs[5]
    seen = internet.since(mark)
    assert len(seen) == 5, seen
    tls_both, basic, chunked, other, plain = seen
    assert _header(tls_both, "authorization") == f"Bearer {real}"
    assert _header(tls_both, "x-body-key") == s.body_only.placeholder, "BODY_KEY is not for headers"
    assert tls_both["body"] == f"a={real}&b={real_body}"
    assert _header(basic, "authorization") == "Basic " + __import__("base64").b64encode(f"me:{real}".encode()).decode()
    assert chunked["body"] == f"start {real} middle {real} end"
    # other.test is covered by BODY_KEY ("*.test") only, so its tunnel is opened too, but gets BODY_KEY alone.
    assert _header(other, "authorization") == f"Bearer {s.header_and_body.placeholder}"
    assert other["body"] == f"a={s.header_and_body.placeholder}&b={real_body}"
    assert _header(plain, "authorization") == f"Bearer {s.header_and_body.placeholder}", "never in clear text"
    records = [r.getMessage() for r in caplog.records]
    for message in records:
        s.canaries.assert_absent(message)
    decisions = [json.loads(m.split(" ", 1)[1]) for m in records if m.startswith("egress ")]
    intercepted = [d for d in decisions if d["intercepted"] and d["method"] == "POST"]
    assert intercepted and all(d["substituted"] for d in intercepted)
    await net_manager.destroy(call.spec.session_id)


async def test_hosts_no_credential_covers_are_tunnelled_untouched(
    net_manager: SandboxManager, internet: LabInternet, credentials: LabCredentials
) -> None:
    call = Caller(net_manager, new_session_id(), networking="unrestricted")
    credentials.by_session[call.spec.session_id] = [
        SessionSecret("ONLY_OTHER", new_placeholder("ONLY_OTHER"), "x" * 20, ("other.test",))
    ]
    assert not (await call("write", file_path="test-ca.pem", content=internet.pki.ca_file.read_text())).is_error
    # Trusting the test internet's CA alone: only the host's own certificate passes, so the tunnel was not opened.
    untouched = await call.bash("curl -sS --cacert test-ca.pem https://internet.test/hello")
    assert untouched.text_for_model == "hello from the test internet"
    opened = await call.bash("curl -sS --cacert test-ca.pem https://other.test/hello")
    assert "curl: (60)" in opened.text_for_model, "other.test's tunnel is opened with the session's CA"
    trusted = await call.bash("curl -sS https://other.test/hello")
    assert trusted.text_for_model == "hello from the test internet"
    await net_manager.destroy(call.spec.session_id)


async def test_real_values_and_the_ca_key_are_nowhere_in_the_sandbox(
    net_manager: SandboxManager, internet: LabInternet, credentials: LabCredentials
) -> None:
    call = Caller(net_manager, new_session_id(), networking="unrestricted")
    s = _secrets(credentials, call.spec.session_id)
    assert (await call.bash('curl -sS -H "X-K: $API_TOKEN" https://internet.test/record')).text_for_model == "recorded"
    probe = await call.bash(s.canaries.probe(), timeout_ms=120000)
    s.canaries.check_probe_output(probe.full_text)
    assert s.header_and_body.placeholder in probe.full_text, "the probe saw the variables"
    async with net_manager.use(call.spec) as sandbox:
        helper = await sandbox.run(["bash", "-c", s.canaries.probe()], None, 120)
        keys = await sandbox.run(
            ["bash", "-c", "grep -rlsI -D skip --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr 'PRIVATE KEY' /"],
            None,
            120,
        )
    s.canaries.check_probe_output(helper.text())
    assert keys.text() == "", keys.text()
    await net_manager.destroy(call.spec.session_id)


async def test_each_sandbox_trusts_only_its_own_session_ca(
    net_manager: SandboxManager, credentials: LabCredentials
) -> None:
    first, second = (Caller(net_manager, new_session_id(), networking="unrestricted") for _ in range(2))
    for call in (first, second):
        _secrets(credentials, call.spec.session_id)
    ca = await first.bash("cat /etc/dma-egress/session-ca.pem")
    assert "BEGIN CERTIFICATE" in ca.text_for_model
    assert not (await second("write", file_path="first-ca.pem", content=ca.text_for_model + "\n")).is_error
    own = await second.bash("curl -sS https://internet.test/hello")
    assert own.text_for_model == "hello from the test internet"
    foreign = await second.bash("curl -sS --cacert first-ca.pem https://internet.test/hello")
    assert "curl: (60)" in foreign.text_for_model, foreign.text_for_model
    for call in (first, second):
        await net_manager.destroy(call.spec.session_id)


async def test_a_credential_revoked_while_its_sandbox_runs_is_no_longer_used(
    net_manager: SandboxManager, internet: LabInternet, credentials: LabCredentials
) -> None:
    call = Caller(net_manager, new_session_id(), networking="unrestricted")
    secret = SessionSecret("API_TOKEN", new_placeholder("API_TOKEN"), f"revoked-{uuid.uuid4().hex}", ("internet.test",))
    credentials.by_session[call.spec.session_id] = [secret]
    assert not (await call("write", file_path="test-ca.pem", content=internet.pki.ca_file.read_text())).is_error
    command = 'curl -sS --cacert {ca} -H "X-Token: $API_TOKEN" https://internet.test/record'
    mark = internet.mark()
    # While it is live the tunnel is the proxy's (the session CA's certificate), and the host gets the real value.
    assert (await call.bash(command.format(ca="/etc/dma-egress/ca-bundle.pem"))).text_for_model == "recorded"
    credentials.by_session[call.spec.session_id] = []  # archived or deleted at its source
    # Now the tunnel is the sandbox's own (the test internet's certificate), and the placeholder goes as it is.
    assert (await call.bash(command.format(ca="test-ca.pem"))).text_for_model == "recorded"
    live, revoked = internet.since(mark)
    assert _header(live, "x-token") == secret.secret_value
    assert _header(revoked, "x-token") == secret.placeholder
    await net_manager.destroy(call.spec.session_id)
