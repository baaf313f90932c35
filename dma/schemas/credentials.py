"""Vault credential requests and responses (API_CONTRACT.md §2.6).

A credential splits in two: ``auth`` holds what responses show (server URL, expiry, refresh endpoint, networking),
the secret part (tokens, client secret, secret value) is sealed (``dma.crypto``) and never shown again.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints

from dma.clock import rfc3339
from dma.schemas.common import Page, RequestModel, SchemaError
from dma.schemas.credential_auth import (
    AuthCreate,
    AuthUpdate,
    EndpointAuthSecret,
    EnvironmentVariableCreate,
    EnvironmentVariableUpdate,
    InjectionLocation,
    LimitedHosts,
    McpOAuthCreate,
    McpOAuthUpdate,
    StaticBearerCreate,
    StaticBearerUpdate,
    normalize_server_url,
)
from dma.store.tables import VaultCredential

DisplayName = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")]
Secrets = dict[str, str]


class CredentialCreate(RequestModel):
    """Body of ``POST /v1/vaults/{id}/credentials``."""

    auth: AuthCreate
    display_name: DisplayName | None = None
    metadata: dict[str, str] | None = None


class CredentialUpdate(RequestModel):
    """Body of ``POST /v1/vaults/{id}/credentials/{id}``: absent keys keep their value."""

    auth: AuthUpdate | None = None
    display_name: DisplayName | None = None
    metadata: dict[str, str | None] | None = None


def _networking(value: Any) -> dict[str, Any]:
    if isinstance(value, LimitedHosts):
        return {"type": "limited", "allowed_hosts": list(value.allowed_hosts)}
    return {"type": "unrestricted"}


def _injection(given: InjectionLocation | None, stored: dict[str, Any]) -> dict[str, bool]:
    header = stored.get("header", True) if given is None or given.header is None else given.header
    body = stored.get("body", True) if given is None or given.body is None else given.body
    if not header and not body:
        raise SchemaError("auth.injection_location must enable header, body or both")
    return {"header": bool(header), "body": bool(body)}


def new_auth(auth: McpOAuthCreate | StaticBearerCreate | EnvironmentVariableCreate) -> tuple[dict[str, Any], Secrets]:
    """The response ``auth`` and the secrets to seal of a new credential."""
    if isinstance(auth, StaticBearerCreate):
        return {"type": "static_bearer", "mcp_server_url": auth.mcp_server_url}, {"token": auth.token}
    if isinstance(auth, EnvironmentVariableCreate):
        public = {
            "type": "environment_variable",
            "secret_name": auth.secret_name,
            "networking": _networking(auth.networking),
            "injection_location": _injection(auth.injection_location, {}),
        }
        return public, {"secret_value": auth.secret_value}
    public: dict[str, Any] = {"type": "mcp_oauth", "mcp_server_url": auth.mcp_server_url}
    secrets: Secrets = {"access_token": auth.access_token}
    if auth.expires_at is not None:
        public["expires_at"] = auth.expires_at
    if auth.refresh is not None:
        refresh = auth.refresh
        public["refresh"] = {
            "client_id": refresh.client_id,
            "token_endpoint": refresh.token_endpoint,
            "token_endpoint_auth": {"type": refresh.token_endpoint_auth.type},
            **({"resource": refresh.resource} if refresh.resource else {}),
            **({"scope": refresh.scope} if refresh.scope else {}),
        }
        secrets["refresh_token"] = refresh.refresh_token
        if isinstance(refresh.token_endpoint_auth, EndpointAuthSecret):
            secrets["client_secret"] = refresh.token_endpoint_auth.client_secret
    return public, secrets


def identifying_key(public: dict[str, Any]) -> str:
    """What at most one live credential of a vault may have: its server URL, or its secret name."""
    if public["type"] == "environment_variable":
        return "env:" + str(public["secret_name"])
    return "mcp:" + normalize_server_url(str(public["mcp_server_url"]))


def _unchanged(given: object, stored: object, name: str) -> None:
    if given is not None and given != stored:
        raise SchemaError(f"auth.{name} cannot be changed; create a new credential instead")


def _update_oauth(update: McpOAuthUpdate, public: dict[str, Any], secrets: Secrets, sent: set[str]) -> None:
    _unchanged(update.mcp_server_url, public["mcp_server_url"], "mcp_server_url")
    if update.access_token is not None:
        secrets["access_token"] = update.access_token
    if "expires_at" in sent:
        public.pop("expires_at", None)
        if update.expires_at is not None:
            public["expires_at"] = update.expires_at
    if update.refresh is None:
        return
    stored = public.get("refresh")
    if stored is None:
        raise SchemaError("auth.refresh cannot be added to a credential created without refresh settings")
    refresh = update.refresh
    _unchanged(refresh.client_id, stored["client_id"], "refresh.client_id")
    _unchanged(refresh.token_endpoint, stored["token_endpoint"], "refresh.token_endpoint")
    if refresh.refresh_token is not None:
        secrets["refresh_token"] = refresh.refresh_token
    if refresh.scope is not None:
        stored.pop("scope", None)
        if refresh.scope:
            stored["scope"] = refresh.scope
    if refresh.token_endpoint_auth is not None:
        if stored["token_endpoint_auth"]["type"] == "none":
            raise SchemaError("auth.refresh.token_endpoint_auth: this credential's token endpoint takes no secret")
        if refresh.token_endpoint_auth.client_secret is not None:
            secrets["client_secret"] = refresh.token_endpoint_auth.client_secret


def _update_env(update: EnvironmentVariableUpdate, public: dict[str, Any], secrets: Secrets) -> None:
    _unchanged(update.secret_name, public["secret_name"], "secret_name")
    if update.secret_value is not None:
        secrets["secret_value"] = update.secret_value
    if update.networking is not None:
        public["networking"] = _networking(update.networking)
    if update.injection_location is not None:
        public["injection_location"] = _injection(update.injection_location, public["injection_location"])


def updated_auth(
    update: McpOAuthUpdate | StaticBearerUpdate | EnvironmentVariableUpdate,
    public: dict[str, Any],
    secrets: Secrets,
) -> tuple[dict[str, Any], Secrets]:
    """The response ``auth`` and secrets after an update (copies; the inputs are left alone).

    Raises:
        SchemaError: when the type changes, an identifying field changes, or the update cannot apply.
    """
    if update.type != public["type"]:
        raise SchemaError(f"auth.type cannot change from {public['type']!r} to {update.type!r}")
    public, secrets = copy.deepcopy(public), dict(secrets)
    if isinstance(update, StaticBearerUpdate):
        _unchanged(update.mcp_server_url, public["mcp_server_url"], "mcp_server_url")
        if update.token is not None:
            secrets["token"] = update.token
    elif isinstance(update, McpOAuthUpdate):
        _update_oauth(update, public, secrets, update.model_fields_set)
    else:
        _update_env(update, public, secrets)
    return public, secrets


def credential_response(row: VaultCredential) -> dict[str, Any]:
    """The ``vault_credential`` object (no secret, ever)."""
    return {
        "id": row.id,
        "type": "vault_credential",
        "vault_id": row.vault_id,
        "auth": row.auth,
        "metadata": row.meta or {},
        "display_name": row.display_name,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "archived_at": rfc3339(row.archived_at),
    }


class CredentialOut(BaseModel):
    """Response model of a credential (documents the shape in OpenAPI)."""

    id: str
    type: Literal["vault_credential"]
    vault_id: str
    auth: dict[str, Any]
    metadata: dict[str, str]
    display_name: str | None = None
    created_at: str
    updated_at: str
    archived_at: str | None = None


CredentialPage = Page[CredentialOut]


class CredentialDeleted(BaseModel):
    id: str
    type: Literal["vault_credential_deleted"] = "vault_credential_deleted"


class CredentialValidationOut(BaseModel):
    """Response model of ``mcp_oauth_validate`` (``refresh`` and ``mcp_probe`` are null when not applicable)."""

    type: Literal["vault_credential_validation"]
    credential_id: str
    vault_id: str
    has_refresh_token: bool
    status: Literal["valid", "invalid", "unknown"]
    validated_at: str
    refresh: dict[str, Any] | None = None
    mcp_probe: dict[str, Any] | None = None
