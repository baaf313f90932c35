"""What a sandbox needs to use its proxy: environment variables and a few read-only files under ``/etc/dma-egress``.

Ordinary tools then just work: curl, pip, npm, git, apt and most HTTP libraries read ``HTTP(S)_PROXY``; git, pip, npm
and apt get their own settings too. When the session has credentials, its CA joins the system roots in one bundle that
every common TLS stack is pointed at (OpenSSL's ``SSL_CERT_FILE``, requests, curl, git, pip, Node) and each
credential's variable holds its placeholder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from activities.sandboxes.egress.credentials import SessionSecret

PROXY_PORT = 3128
CONFIG_DIR = "/etc/dma-egress"
BUNDLE = f"{CONFIG_DIR}/ca-bundle.pem"
SESSION_CA = f"{CONFIG_DIR}/session-ca.pem"
APT_CONF = f"{CONFIG_DIR}/apt.conf"
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
NO_PROXY = "localhost,127.0.0.1,::1"


@dataclass(frozen=True)
class Mirrors:
    """Package indexes a worker points sandboxes at instead of the public registries (None: the registry itself).

    Attributes:
        pip_index_url: ``PIP_INDEX_URL`` (a PyPI mirror's simple index).
        npm_registry_url: ``npm_config_registry``.
    """

    pip_index_url: str | None = None
    npm_registry_url: str | None = None

    def hosts(self) -> tuple[str, ...]:
        """The mirrors' hosts: package registries as far as ``allow_package_managers`` goes."""
        urls = (self.pip_index_url, self.npm_registry_url)
        return tuple(host for url in urls if url for host in [urlsplit(url).hostname] if host)

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.pip_index_url:
            env["PIP_INDEX_URL"] = self.pip_index_url
            parts = urlsplit(self.pip_index_url)
            if parts.scheme == "http" and parts.hostname:
                env["PIP_TRUSTED_HOST"] = parts.hostname  # pip ignores a plain-HTTP index it was not told to trust
        if self.npm_registry_url:
            env["npm_config_registry"] = self.npm_registry_url
        return env


def _system_bundle() -> bytes:
    for path in SYSTEM_BUNDLES:
        try:
            return Path(path).read_bytes()
        except OSError:
            continue
    return b""


def proxy_env(port: int = PROXY_PORT) -> dict[str, str]:
    """The variables that send a sandbox's HTTP(S) through its proxy."""
    url = f"http://127.0.0.1:{port}"
    env = dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), url)
    env |= {"NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY, "npm_config_proxy": url, "npm_config_https_proxy": url}
    env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.proxy", "GIT_CONFIG_VALUE_0": url}
    env["APT_CONFIG"] = APT_CONF
    return env


def trust_env() -> dict[str, str]:
    """The variables that make the common TLS stacks trust the session's CA as well as the system roots."""
    env = dict.fromkeys(("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"), BUNDLE)
    return env | {"PIP_CERT": BUNDLE, "AWS_CA_BUNDLE": BUNDLE, "NODE_EXTRA_CA_CERTS": SESSION_CA}


def sandbox_config(
    secrets: Sequence[SessionSecret], ca_pem: bytes | None, mirrors: Mirrors, port: int = PROXY_PORT
) -> tuple[dict[str, str], dict[str, bytes]]:
    """The environment and the files (path inside the sandbox -> content) of a sandbox with networking."""
    url = f"http://127.0.0.1:{port}"
    # The secrets first: a credential named like one of the proxy's variables must not take the proxy away.
    env = {secret.secret_name: secret.placeholder for secret in secrets} | proxy_env(port) | mirrors.env()
    files = {APT_CONF: f'Acquire::http::Proxy "{url}";\nAcquire::https::Proxy "{url}";\n'.encode()}
    if ca_pem is not None:
        env |= trust_env()
        files[SESSION_CA] = ca_pem
        files[BUNDLE] = _system_bundle().rstrip(b"\n") + b"\n" + ca_pem
    return env, files
