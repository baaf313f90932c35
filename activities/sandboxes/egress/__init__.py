"""Sandbox networking: one egress proxy per sandbox, on the worker, reached from the sandbox's own loopback."""

from activities.sandboxes.egress.addresses import ControlPlane
from activities.sandboxes.egress.client_config import Mirrors
from activities.sandboxes.egress.credentials import (
    CredentialSource,
    CredentialsUnavailable,
    NoCredentials,
    SessionSecret,
    new_placeholder,
    stable_placeholder,
)
from activities.sandboxes.egress.service import EgressOptions, EgressService, SandboxNetwork
from activities.sandboxes.egress.upstream import Resolved, ResolveError, SystemUpstream, Upstream
from activities.sandboxes.egress.vault_source import VaultCredentials

__all__ = [
    "ControlPlane",
    "CredentialSource",
    "CredentialsUnavailable",
    "EgressOptions",
    "EgressService",
    "Mirrors",
    "NoCredentials",
    "Resolved",
    "ResolveError",
    "SandboxNetwork",
    "SessionSecret",
    "SystemUpstream",
    "Upstream",
    "VaultCredentials",
    "new_placeholder",
    "stable_placeholder",
]
