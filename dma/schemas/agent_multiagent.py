"""An agent's ``multiagent`` setting (API_CONTRACT.md §4.7): accepted, validated, pinned and echoed.

Orchestration itself is out of scope. Normalizing happens in two steps because pinning needs the database: the request
becomes a *pending* form in which agent references may lack a version and ``{"type": "self"}`` is still symbolic, and
``pin_multiagent`` then turns it into the response form using what the store found out about each reference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from dma.schemas.agent_parts import ModelId
from dma.schemas.common import RequestModel, SchemaError

MAX_ROSTER = 20
AgentIdText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AgentRef(RequestModel):
    """A saved agent, at a given version or (when omitted) its latest one."""

    type: Literal["agent"]
    id: AgentIdText
    version: Annotated[int, Field(ge=1)] | None = None


class SelfRef(RequestModel):
    """The agent being saved."""

    type: Literal["self"]


class AdvisorRef(RequestModel):
    """A model the coordinator may consult."""

    type: Literal["advisor"]
    model: ModelId


RosterEntry = AgentIdText | Annotated[AgentRef | SelfRef | AdvisorRef, Field(discriminator="type")]
PredefinedEntry = AgentIdText | Annotated[AgentRef | SelfRef, Field(discriminator="type")]


def _pending_ref(entry: RosterEntry | PredefinedEntry) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"type": "agent", "id": entry, "version": None}
    return entry.model_dump()


class Coordinator(RequestModel):
    """The primary thread spawns threads running the agents of its roster."""

    type: Literal["coordinator"]
    agents: Annotated[list[RosterEntry], Field(min_length=1, max_length=MAX_ROSTER)]

    @model_validator(mode="after")
    def _at_most_one_self_and_advisor(self) -> Coordinator:
        kinds = [entry.type for entry in self.agents if not isinstance(entry, str)]
        if kinds.count("self") > 1 or kinds.count("advisor") > 1:
            raise ValueError("agents may hold at most one 'self' and at most one 'advisor'")
        return self

    def pending(self) -> dict[str, Any]:
        return {"type": "coordinator", "agents": [_pending_ref(entry) for entry in self.agents]}


class Switch(RequestModel):
    """An ``enabled`` / ``disabled`` switch with nothing else to say."""

    type: Literal["enabled", "disabled"]


class AdvisorEnabled(RequestModel):
    """The advisor member, switched on."""

    type: Literal["enabled"]
    model: ModelId


class ThreadsEnabled(RequestModel):
    """The subagents or workflows member, switched on."""

    type: Literal["enabled"]
    inline_agents: Switch | None = None
    predefined_agents: Annotated[list[PredefinedEntry], Field(max_length=MAX_ROSTER)] | None = None

    @model_validator(mode="after")
    def _something_to_run(self) -> ThreadsEnabled:
        if self.inline_agents is not None and self.inline_agents.type == "disabled" and not self.predefined_agents:
            raise ValueError("with inline_agents disabled, predefined_agents must name at least one agent")
        return self

    def pending(self) -> dict[str, Any]:
        return {
            "type": "enabled",
            "inline_agents": {"type": self.inline_agents.type if self.inline_agents else "enabled"},
            "predefined_agents": [_pending_ref(entry) for entry in self.predefined_agents or []],
        }


class Disabled(RequestModel):
    """A member switched off."""

    type: Literal["disabled"]

    def pending(self) -> dict[str, Any]:
        return {"type": "disabled"}


_DEFAULT_THREADS = ThreadsEnabled(type="enabled")


class Multiagent20261001(RequestModel):
    """Advisor, subagents and workflows, each switched on or off (a null member takes its default)."""

    type: Literal["multiagent_20261001"]
    advisor: Annotated[AdvisorEnabled | Disabled, Field(discriminator="type")] | None = None
    subagents: Annotated[ThreadsEnabled | Disabled, Field(discriminator="type")] | None = None
    workflows: Annotated[ThreadsEnabled | Disabled, Field(discriminator="type")] | None = None

    def pending(self) -> dict[str, Any]:
        return {
            "type": "multiagent_20261001",
            "advisor": (self.advisor or Disabled(type="disabled")).model_dump(),
            "subagents": (self.subagents or _DEFAULT_THREADS).pending(),
            "workflows": (self.workflows or _DEFAULT_THREADS).pending(),
        }


MultiagentIn = Annotated[Coordinator | Multiagent20261001, Field(discriminator="type")]


def normalize_multiagent(multiagent: Coordinator | Multiagent20261001 | None) -> dict[str, Any] | None:
    """The pending form of ``multiagent`` (``pin_multiagent`` finishes it), or None."""
    return multiagent.pending() if multiagent is not None else None


@dataclass(frozen=True)
class RosterAgent:
    """What the store found out about a referenced agent."""

    version: int
    archived: bool
    multiagent: bool


def _ref_lists(multiagent: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
    if multiagent["type"] == "coordinator":
        yield multiagent["agents"]
        return
    for member in ("subagents", "workflows"):
        if multiagent[member]["type"] == "enabled":
            yield multiagent[member]["predefined_agents"]


def roster_refs(multiagent: Mapping[str, Any] | None) -> list[tuple[str, int | None]]:
    """Every ``(agent id, version or None)`` a pending or pinned ``multiagent`` names, ``self`` excluded."""
    if multiagent is None:
        return []
    return [
        (ref["id"], ref.get("version")) for refs in _ref_lists(multiagent) for ref in refs if ref["type"] == "agent"
    ]


def pin_multiagent(
    multiagent: Mapping[str, Any], *, self_ref: tuple[str, int], found: Mapping[tuple[str, int | None], RosterAgent]
) -> dict[str, Any]:
    """The response form of a pending ``multiagent``: every reference pinned to a version, ``self`` resolved.

    Args:
        multiagent: the pending form from ``normalize_multiagent``.
        self_ref: the id and version of the agent being saved.
        found: what the store knows about each reference from ``roster_refs``; a missing key means no such agent.

    Raises:
        SchemaError: when a reference names an unknown or archived agent, an agent that is itself multiagent, or the
            same agent twice in one list.
    """
    if multiagent["type"] == "coordinator":
        return {**multiagent, "agents": _pin_list(multiagent["agents"], self_ref, found)}
    pinned: dict[str, Any] = {**multiagent}
    for key in ("subagents", "workflows"):
        member = multiagent[key]
        if member["type"] == "enabled":
            pinned[key] = {**member, "predefined_agents": _pin_list(member["predefined_agents"], self_ref, found)}
    return pinned


def _pin_list(
    refs: list[dict[str, Any]], self_ref: tuple[str, int], found: Mapping[tuple[str, int | None], RosterAgent]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ref in refs:
        if ref["type"] == "advisor":
            out.append(ref)
        elif ref["type"] == "self":
            out.append({"type": "agent", "id": self_ref[0], "version": self_ref[1]})
        else:
            out.append({"type": "agent", "id": ref["id"], "version": _pinned_version(ref, found)})
    ids = [ref["id"] for ref in out if ref["type"] == "agent"]
    if len(set(ids)) != len(ids):
        raise SchemaError("multiagent lists must name each agent once (self counts as this agent)")
    return out


def _pinned_version(ref: Mapping[str, Any], found: Mapping[tuple[str, int | None], RosterAgent]) -> int:
    info = found.get((ref["id"], ref.get("version")))
    label = f"{ref['id']!r}" + (f" version {ref['version']}" if ref.get("version") else "")
    if info is None:
        raise SchemaError(f"multiagent references agent {label}, which does not exist")
    if info.archived:
        raise SchemaError(f"multiagent references agent {label}, which is archived")
    if info.multiagent:
        raise SchemaError(f"multiagent references agent {label}, which is itself multiagent (one level only)")
    return info.version
