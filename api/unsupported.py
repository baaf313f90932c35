"""Fields that fit the wire shape but that this server cannot honour yet: each is refused with a 400 naming it.

A field that is stored and echoed but has no effect makes a client believe it works. So until the issue that
implements a feature lands, its line below refuses it (that issue deletes the line). Empty values (``[]``, ``null``)
and defaults stay accepted, so an agent or environment read back and sent again still goes through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from api.errors import InvalidRequest

Fields = Mapping[str, Any]


@dataclass(frozen=True)
class Unsupported:
    """One field (as the client names it) and how to tell that a request really uses it."""

    field: str
    used: Callable[[Fields], bool]
    hint: str = ""


def _get(value: object, key: str) -> object:
    """``value[key]`` of a JSON object, None for anything else."""
    return cast(Mapping[str, object], value).get(key) if isinstance(value, Mapping) else None


def _entries(value: object) -> list[object]:
    return list(cast(list[object], value)) if isinstance(value, list) else []


def _model_option(fields: Fields, key: str) -> object:
    value = _get(fields.get("model"), key)
    # Effort comes as a level or as ``{"type": level}``.
    level = _get(value, "type")
    return value if level is None else level


def _uses_mcp_toolset(fields: Fields) -> bool:
    return any(_get(tool, "type") == "mcp_toolset" for tool in _entries(fields.get("tools")))


# The parts of an agent: ``POST /v1/agents``, agent updates, and a session's ``agent_with_overrides`` / agent update.
AGENT: tuple[Unsupported, ...] = (
    Unsupported("mcp_servers", lambda f: bool(_entries(f.get("mcp_servers")))),
    Unsupported("tools[].mcp_toolset", _uses_mcp_toolset),
    Unsupported("skills", lambda f: bool(_entries(f.get("skills")))),
    Unsupported("multiagent", lambda f: f.get("multiagent") is not None),
    Unsupported("model.effort", lambda f: _model_option(f, "effort") not in (None, "high"), "only 'high' is accepted"),
    Unsupported("model.speed", lambda f: _model_option(f, "speed") not in (None, "standard"), "only 'standard'"),
)
SESSION: tuple[Unsupported, ...] = (Unsupported("budget", lambda f: f.get("budget") is not None),)
ENVIRONMENT: tuple[Unsupported, ...] = ()


def refuse(fields: Fields, rules: Sequence[Unsupported], prefix: str = "") -> None:
    """Raise a 400 for the first rule the request's fields trip.

    Args:
        fields: The fields the client sent, as JSON (``model_dump(mode="json", exclude_unset=True)``).
        rules: ``AGENT``, ``SESSION`` or ``ENVIRONMENT``.
        prefix: Where these fields sit in the request (``agent.`` for a session's agent overrides).

    Raises:
        InvalidRequest: naming the field.
    """
    for rule in rules:
        if rule.used(fields):
            hint = f" ({rule.hint})" if rule.hint else ""
            raise InvalidRequest(f"{prefix}{rule.field} is not supported by this server yet{hint}")
