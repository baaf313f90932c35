"""``environment_variable`` credentials as the egress proxy sees them: a placeholder inside, the real value outside.

A session's sandbox gets each credential's ``secret_name`` set to its placeholder; the proxy swaps the placeholder for
the real value in requests to the credential's allowed hosts (in headers and/or bodies, per ``injection_location``)
and nowhere else. The shape mirrors the SDK's ``BetaManagedAgentsEnvironmentVariableCreateParams``; where the
credentials come from is the ``CredentialSource`` a worker is built with (its vault store, ``vault_source.py``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dma.hosts import matches_any


@dataclass(frozen=True)
class SessionSecret:
    """One ``environment_variable`` credential of a session.

    Attributes:
        secret_name: The environment variable inside the sandbox.
        placeholder: What the variable holds inside the sandbox; stable for the session (the agent may have written
            it into a file), unique, and long enough never to occur by chance.
        secret_value: The real value; never inside the sandbox, never logged (not in ``repr``).
        allowed_hosts: ``networking.allowed_hosts`` of a ``limited`` credential; None for ``unrestricted`` (every host
            the environment's policy permits).
        header: Substitute in request header values (``injection_location.header``).
        body: Substitute in request bodies (``injection_location.body``).
        credential_id: The vault credential it comes from (how its source finds it again).
    """

    secret_name: str
    placeholder: str
    secret_value: str = field(repr=False)
    allowed_hosts: tuple[str, ...] | None = None
    header: bool = True
    body: bool = False
    credential_id: str = ""

    def covers(self, host: str) -> bool:
        """Whether requests to ``host`` get this secret."""
        return self.allowed_hosts is None or matches_any(self.allowed_hosts, host)


class CredentialSource(Protocol):
    """Where a worker finds the ``environment_variable`` credentials of a session (its vaults)."""

    async def secrets_for(self, session_id: str) -> Sequence[SessionSecret]:
        """The session's credentials (empty when it has none)."""
        ...

    async def current(self, session_id: str, secrets: Sequence[SessionSecret]) -> Sequence[SessionSecret]:
        """Those of ``secrets`` that are still live, as they are now (value and hosts), before the proxy uses them.

        Raises:
            CredentialsUnavailable: when the source cannot tell (the proxy then refuses the tunnel).
        """
        ...


class CredentialsUnavailable(Exception):
    """A credential source cannot be read right now (its database is unreachable)."""


class NoCredentials:
    """A source with no credentials at all (sandboxes of a manager built without one: tests, tools)."""

    async def secrets_for(self, session_id: str) -> Sequence[SessionSecret]:
        del session_id
        return ()

    async def current(self, session_id: str, secrets: Sequence[SessionSecret]) -> Sequence[SessionSecret]:
        del session_id, secrets
        return ()


def new_placeholder(secret_name: str) -> str:
    """A fresh placeholder for ``secret_name``: recognisable, unique, and never a prefix of another."""
    return f"dma-placeholder-{secret_name.lower()}-{secrets.token_hex(16)}"


def stable_placeholder(secret_name: str, session_id: str, credential_id: str) -> str:
    """The placeholder of a credential in one session, the same at every sandbox start (files may hold it).

    Derived from ids only: a placeholder is no secret (it is worth something only to the proxy of its own session).
    """
    digest = hashlib.sha256(f"{session_id}\0{credential_id}".encode()).hexdigest()[:32]
    return f"dma-placeholder-{secret_name.lower()}-{digest}"
