"""The ``auth`` of a vault credential (API_CONTRACT.md §2.6): what clients send on create and update.

Secret fields (tokens, client secrets, secret values) are write-only. Validation messages name the field and the
rule, never the value, so a rejected request cannot echo a secret back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from dma.clock import as_utc, utcnow
from dma.schemas.common import RequestModel

# Bearer tokens go into an HTTP header: printable ASCII without spaces (RFC 6750 b64token and what API keys use).
HeaderSecret = Annotated[str, StringConstraints(min_length=1, max_length=16_384, pattern=r"^[\x21-\x7e]+$")]
SecretValue = Annotated[str, StringConstraints(min_length=1, max_length=65_536)]
PlainText = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\x00-\x1f\x7f]*$")]
OptionalText = Annotated[str, StringConstraints(max_length=2048, pattern=r"^[^\x00-\x1f\x7f]*$")]
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")]
# A bare hostname, an IPv4 address or a ``*.`` wildcard: no scheme, port, path or IPv6 (the SDK's rule).
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
AllowedHost = Annotated[str, StringConstraints(pattern=rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$", max_length=253)]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_server_url(url: str) -> str:
    """The form two MCP server URLs are compared in: lower-case scheme and host, no default port, no trailing ``/``."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, _DEFAULT_PORTS.get(parts.scheme.lower())) else None
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def check_http_url(value: str, field_name: str) -> str:
    """An absolute ``http(s)://host/...`` URL without credentials, whitespace or fragment.

    Raises:
        ValueError: naming ``field_name`` (pydantic turns it into a 400).
    """
    bad = ValueError(f"{field_name} must be an absolute http:// or https:// URL with a host")
    if len(value) > 2048 or any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        raise bad
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise bad from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or parts.fragment:
        raise bad
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field_name} must not carry user:password@ credentials; store them in the credential")
    return value


def check_future(value: str | None) -> str | None:
    """``expires_at``: an RFC 3339 timestamp with an offset, in the future; stored in the response form.

    Raises:
        ValueError: when it does not parse, has no offset, or is not in the future.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("expires_at must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError("expires_at needs a timezone offset")
    if as_utc(parsed) <= utcnow():
        raise ValueError("expires_at must be in the future")
    return as_utc(parsed).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _UrlModel(RequestModel):
    @field_validator("mcp_server_url", "token_endpoint", check_fields=False)
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_http_url(value, info.field_name or "url")


class StaticBearerCreate(_UrlModel):
    type: Literal["static_bearer"]
    token: HeaderSecret
    mcp_server_url: str


class EndpointAuthNone(RequestModel):
    type: Literal["none"]


class EndpointAuthSecret(RequestModel):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: HeaderSecret


class OAuthRefreshCreate(_UrlModel):
    client_id: PlainText
    refresh_token: HeaderSecret
    token_endpoint: str
    token_endpoint_auth: Annotated[EndpointAuthNone | EndpointAuthSecret, Field(discriminator="type")]
    resource: OptionalText | None = None
    scope: OptionalText | None = None


class McpOAuthCreate(_UrlModel):
    type: Literal["mcp_oauth"]
    access_token: HeaderSecret
    mcp_server_url: str
    expires_at: str | None = None
    refresh: OAuthRefreshCreate | None = None

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: str | None) -> str | None:
        return check_future(value)


class UnrestrictedHosts(RequestModel):
    type: Literal["unrestricted"]


class LimitedHosts(RequestModel):
    type: Literal["limited"]
    allowed_hosts: Annotated[list[AllowedHost], Field(min_length=1, max_length=16)]


Networking = Annotated[UnrestrictedHosts | LimitedHosts, Field(discriminator="type")]


class InjectionLocation(RequestModel):
    header: bool | None = None
    body: bool | None = None


class EnvironmentVariableCreate(RequestModel):
    type: Literal["environment_variable"]
    secret_name: SecretName
    secret_value: SecretValue
    networking: Networking
    injection_location: InjectionLocation | None = None


class StaticBearerUpdate(_UrlModel):
    type: Literal["static_bearer"]
    token: HeaderSecret | None = None
    mcp_server_url: str | None = None


class EndpointAuthSecretUpdate(RequestModel):
    type: Literal["client_secret_basic", "client_secret_post"]
    client_secret: HeaderSecret | None = None


class OAuthRefreshUpdate(_UrlModel):
    refresh_token: HeaderSecret | None = None
    scope: OptionalText | None = None
    token_endpoint_auth: EndpointAuthSecretUpdate | None = None
    client_id: PlainText | None = None
    token_endpoint: str | None = None


class McpOAuthUpdate(_UrlModel):
    type: Literal["mcp_oauth"]
    access_token: HeaderSecret | None = None
    expires_at: str | None = None
    refresh: OAuthRefreshUpdate | None = None
    mcp_server_url: str | None = None

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: str | None) -> str | None:
        return check_future(value)


class EnvironmentVariableUpdate(RequestModel):
    type: Literal["environment_variable"]
    secret_value: SecretValue | None = None
    networking: Networking | None = None
    injection_location: InjectionLocation | None = None
    secret_name: SecretName | None = None


AuthCreate = Annotated[McpOAuthCreate | StaticBearerCreate | EnvironmentVariableCreate, Field(discriminator="type")]
AuthUpdate = Annotated[McpOAuthUpdate | StaticBearerUpdate | EnvironmentVariableUpdate, Field(discriminator="type")]
