"""Environment requests and responses (API_CONTRACT.md §2.2).

``Environment.config`` stores the response form: a cloud config always carries ``networking`` and all six package
lists, so reads and session snapshots never fill in defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from dma.clock import rfc3339
from dma.hosts import check_pattern
from dma.schemas.common import Page, RequestModel, SchemaError, check_metadata, merge_metadata
from dma.store.tables import Environment

__all__ = [
    "EnvironmentCreate",
    "EnvironmentDeleted",
    "EnvironmentOut",
    "EnvironmentPage",
    "EnvironmentUpdate",
    "environment_response",
]

PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")
Scope = Literal["organization", "account"]
# name and description are text columns, and PostgreSQL text cannot hold NUL characters.
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
EnvDescription = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
# A bare hostname, an IPv4 address or a ``*.`` wildcard (``dma.hosts``).
Host = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_pattern)]
PackageSpec = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=512)]
PackageList = Annotated[list[PackageSpec], Field(max_length=1000)]


class UnrestrictedNetwork(RequestModel):
    """Any outbound host may be reached."""

    type: Literal["unrestricted"]


class LimitedNetwork(RequestModel):
    """Only ``allowed_hosts`` (plus MCP servers or package registries when allowed) may be reached."""

    type: Literal["limited"]
    allowed_hosts: Annotated[list[Host], Field(max_length=1000)] | None = None
    allow_mcp_servers: bool | None = None
    allow_package_managers: bool | None = None


class PackagesIn(RequestModel):
    """Packages to install per package manager; a list left out keeps its stored value on update."""

    type: Literal["packages"] | None = None
    apt: PackageList | None = None
    cargo: PackageList | None = None
    gem: PackageList | None = None
    go: PackageList | None = None
    npm: PackageList | None = None
    pip: PackageList | None = None


class CloudConfigIn(RequestModel):
    """A sandbox this server runs; ``networking`` and ``packages`` left out keep their stored values on update."""

    type: Literal["cloud"]
    networking: Annotated[UnrestrictedNetwork | LimitedNetwork, Field(discriminator="type")] | None = None
    packages: PackagesIn | None = None


class SelfHostedConfigIn(RequestModel):
    """A sandbox the client runs."""

    type: Literal["self_hosted"]


ConfigIn = Annotated[CloudConfigIn | SelfHostedConfigIn, Field(discriminator="type")]

_UNRESTRICTED: dict[str, Any] = {"type": "unrestricted"}
_LIMITED_DEFAULTS: dict[str, Any] = {
    "type": "limited",
    "allowed_hosts": [],
    "allow_mcp_servers": False,
    "allow_package_managers": False,
}


def _networking(given: UnrestrictedNetwork | LimitedNetwork | None, stored: Mapping[str, Any]) -> dict[str, Any]:
    if given is None:
        return dict(stored)
    if isinstance(given, UnrestrictedNetwork):
        return dict(_UNRESTRICTED)
    # Within ``limited`` a field left out keeps its stored value; coming from another type it takes its default.
    base = stored if stored.get("type") == "limited" else _LIMITED_DEFAULTS
    sent = given.model_dump(exclude_none=True)
    return {**_LIMITED_DEFAULTS, **base, **sent}


def _packages(given: PackagesIn | None, stored: Mapping[str, Any]) -> dict[str, Any]:
    packages: dict[str, Any] = {"type": "packages"}
    for manager in PACKAGE_MANAGERS:
        value = getattr(given, manager) if given is not None else None
        packages[manager] = list(value) if value is not None else list(stored.get(manager) or [])
    return packages


def normalize_config(
    config: CloudConfigIn | SelfHostedConfigIn | None, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The response form of ``config``, merged over ``stored`` (the current config on update, None on create).

    Raises:
        SchemaError: ``invalid_config_type_change`` when ``config.type`` differs from the stored type, or a plain
            400 when limited networking would install packages without ``allow_package_managers``.
    """
    if stored is not None and config is not None and config.type != stored.get("type"):
        raise SchemaError(
            f"config.type cannot change from {stored.get('type')!r} to {config.type!r}",
            error_code="invalid_config_type_change",
        )
    if stored is not None and config is None:
        return dict(stored)
    if isinstance(config, SelfHostedConfigIn):
        return {"type": "self_hosted"}
    previous = stored or {}
    networking = _networking(config.networking if config else None, previous.get("networking") or _UNRESTRICTED)
    packages = _packages(config.packages if config else None, previous.get("packages") or {})
    wants_packages = any(packages[manager] for manager in PACKAGE_MANAGERS)
    if networking["type"] == "limited" and wants_packages and not networking["allow_package_managers"]:
        raise SchemaError("packages under limited networking need networking.allow_package_managers = true")
    return {"type": "cloud", "networking": networking, "packages": packages}


class EnvironmentCreate(RequestModel):
    """Body of ``POST /v1/environments``."""

    name: EnvName
    config: ConfigIn | None = None
    description: EnvDescription | None = None
    metadata: dict[str, str] | None = None
    scope: Scope | None = None

    def to_row(self) -> dict[str, Any]:
        """Column values for a new ``Environment`` row (without id and timestamps)."""
        return {
            "name": self.name,
            "description": self.description,
            "config": normalize_config(self.config),
            "meta": check_metadata(self.metadata or {}),
            "scope": self.scope or "organization",
        }


class EnvironmentUpdate(RequestModel):
    """Body of ``POST /v1/environments/{id}``: absent keys keep their value."""

    name: EnvName | None = None
    config: ConfigIn | None = None
    description: EnvDescription | None = None
    metadata: dict[str, str | None] | None = None
    scope: Scope | None = None

    def changes(self, row: Environment) -> dict[str, Any]:
        """The column values this update sets on ``row`` (``description: null`` clears; ``""`` is stored as is).

        Raises:
            SchemaError: on a config type change, a packages rule violation, or metadata beyond the limits.
        """
        sent = self.model_fields_set
        changes: dict[str, Any] = {}
        if self.name is not None:
            changes["name"] = self.name
        if "description" in sent:
            changes["description"] = self.description
        if self.config is not None:
            changes["config"] = normalize_config(self.config, row.config)
        if self.metadata is not None:
            changes["meta"] = merge_metadata(row.meta or {}, self.metadata, empty_deletes=True)
        if self.scope is not None:
            changes["scope"] = self.scope
        return changes


def environment_response(row: Environment) -> dict[str, Any]:
    """The ``environment`` object; every timestamp is an RFC 3339 string (the SDK types them as ``str``)."""
    return {
        "id": row.id,
        "type": "environment",
        "name": row.name,
        "config": row.config,
        "metadata": row.meta or {},
        "description": row.description,
        "scope": row.scope,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "archived_at": rfc3339(row.archived_at),
    }


class EnvironmentOut(BaseModel):
    """The ``environment`` object (``config`` is a union keyed by ``type``)."""

    id: str
    type: Literal["environment"]
    name: str
    config: dict[str, Any]
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    description: EnvDescription | None = None
    scope: Scope | None = None
    archived_at: str | None = None


class EnvironmentDeleted(BaseModel):
    """What ``DELETE /v1/environments/{id}`` returns."""

    id: str
    type: Literal["environment_deleted"]


EnvironmentPage = Page[EnvironmentOut]
