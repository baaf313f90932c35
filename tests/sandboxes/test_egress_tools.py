"""Ordinary tools reach the test internet through the sandbox's proxy, on both backends: curl (HTTP and HTTPS),
``pip download`` from the host's simple index and ``git clone`` over HTTP work under ``unrestricted`` and under
``limited`` with the host allowed; under ``limited`` without it each is refused with the policy's message, and the
test host sees none of those requests."""

from __future__ import annotations

import pytest

from activities.sandboxes import SandboxManager
from tests.netlab import content
from tests.netlab.fixtures import tools_spec
from tests.netlab.lab import LabInternet
from tests.sandboxes.fixtures import Caller, new_session_id

CA = "/workspace/test-ca.pem"
# Each tool as an agent would run it; the refusal shows in what each prints (curl's body, the status line, pip's
# "Tunnel connection failed: 403 ...", git's verbose headers).
TOOLS = {
    "curl-http": "curl -sS http://{host}/hello",
    "curl-https": f"curl -sS -v --cacert {CA} https://{{host}}/hello",
    "pip": (
        "rm -rf /tmp/dl && python3 -m pip download --no-cache-dir --disable-pip-version-check --retries 1 -d /tmp/dl "
        f"--index-url https://{{host}}/simple --cert {CA} {content.PACKAGE} 2>&1; ls /tmp/dl"
    ),
    "git": (
        "rm -rf /tmp/demo && GIT_CURL_VERBOSE=1 git clone -q http://{host}/git/demo.git /tmp/demo 2>&1; "
        "cat /tmp/demo/README"
    ),
}
WORKED = {
    "curl-http": "hello from the test internet",
    "curl-https": "hello from the test internet",
    "pip": f"{content.PACKAGE}-{content.VERSION}-py3-none-any.whl",
    "git": content.GIT_MARKER,
}


async def _caller(manager: SandboxManager, internet: LabInternet, networking: str, hosts: list[str]) -> Caller:
    call = Caller(manager, new_session_id())
    call.spec = tools_spec(manager.backend, call.spec.session_id, networking, allowed_hosts=hosts)
    written = await call("write", file_path=CA, content=internet.pki.ca_file.read_text())
    assert not written.is_error, written.text_for_model
    return call


@pytest.mark.parametrize(
    ("networking", "hosts"),
    [("unrestricted", []), ("limited", ["internet.test"]), ("limited", ["*.internet.test", "other.test"])],
)
async def test_tools_work_when_the_policy_allows_the_host(
    net_manager: SandboxManager, internet: LabInternet, networking: str, hosts: list[str]
) -> None:
    call = await _caller(net_manager, internet, networking, hosts)
    host = "internet.test" if "internet.test" in hosts or not hosts else "www.internet.test"
    mark = internet.mark()
    for tool, command in TOOLS.items():
        result = await call.bash(command.format(host=host), timeout_ms=60000)
        assert WORKED[tool] in result.text_for_model, f"{tool}: {result.text_for_model}"
    seen = internet.since(mark)
    assert seen and all(entry["peer"] == internet.gateway_ip for entry in seen), "only the proxy reached the host"
    assert {entry["tls"] for entry in seen} == {True, False}
    await net_manager.destroy(call.spec.session_id)


@pytest.mark.parametrize("hosts", [[], ["other.test"], ["*.internet.test"]])
async def test_tools_are_refused_with_the_policys_message_without_the_host(
    net_manager: SandboxManager, internet: LabInternet, hosts: list[str]
) -> None:
    # "*.internet.test" does not cover its apex internet.test.
    call = await _caller(net_manager, internet, "limited", hosts)
    mark = internet.mark()
    for tool, command in TOOLS.items():
        result = await call.bash(command.format(host="internet.test"), timeout_ms=60000)
        text = result.text_for_model
        assert WORKED[tool] not in text, f"{tool}: {text}"
        assert "network policy" in text and "limited" in text, f"{tool}: {text}"
    assert internet.since(mark) == []
    await net_manager.destroy(call.spec.session_id)


async def test_tools_find_the_proxy_in_their_own_configuration(net_manager: SandboxManager) -> None:
    call = Caller(net_manager, new_session_id(), networking="unrestricted")
    # npm reads its npm_config_* variables (node itself needs more address space than the tests' sandboxes allow).
    result = await call.bash(
        "env | grep -i -E '^((https?|no)_|npm_config_(https_)?)proxy=' | sort; git config --get http.proxy; "
        "apt-config dump | grep -i 'proxy'"
    )
    lines = result.text_for_model.splitlines()
    url = "http://127.0.0.1:3128"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        assert f"{name}={url}" in lines, result.text_for_model
    assert "NO_PROXY=localhost,127.0.0.1,::1" in lines
    assert f"npm_config_proxy={url}" in lines and f"npm_config_https_proxy={url}" in lines
    assert url in lines, "git's http.proxy"
    assert f'Acquire::http::Proxy "{url}";' in lines and f'Acquire::https::Proxy "{url}";' in lines
    await net_manager.destroy(call.spec.session_id)
