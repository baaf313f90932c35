"""Fields that fit the wire shape but that this server cannot honour yet: each is refused with a 400 naming it.

A field that is stored and echoed but has no effect makes a client believe it works. So until the issue that
implements a feature lands, its line below refuses it (that issue deletes the line). Empty values (``[]``, ``null``)
and defaults stay accepted, so an agent or environment read back and sent again still goes through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api.errors import InvalidRequest

Fields = Mapping[str, Any]


@dataclass(frozen=True)
class Unsupported:
    """One field (as the client names it) and how to tell that a request really uses it."""

    field: str
    used: Callable[[Fields], bool]
    hint: str = ""


# The parts of an agent: ``POST /v1/agents``, agent updates, and a session's ``agent_with_overrides`` / agent update.
AGENT: tuple[Unsupported, ...] = (Unsupported("multiagent", lambda f: f.get("multiagent") is not None),)
ENVIRONMENT: tuple[Unsupported, ...] = ()


def refuse(fields: Fields, rules: Sequence[Unsupported], prefix: str = "") -> None:
    """Raise a 400 for the first rule the request's fields trip.

    Args:
        fields: The fields the client sent, as JSON (``model_dump(mode="json", exclude_unset=True)``).
        rules: ``AGENT`` or ``ENVIRONMENT``.
        prefix: Where these fields sit in the request (``agent.`` for a session's agent overrides).

    Raises:
        InvalidRequest: naming the field.
    """
    for rule in rules:
        if rule.used(fields):
            hint = f" ({rule.hint})" if rule.hint else ""
            raise InvalidRequest(f"{prefix}{rule.field} is not supported by this server yet{hint}")
