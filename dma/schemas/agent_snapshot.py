"""The agent a session runs: its snapshot (API_CONTRACT.md §4.10) and ``agent_with_overrides`` (§2.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dma.schemas.agent_parts import (
    McpServerList,
    ModelIn,
    SkillList,
    SystemText,
    check_agent_body,
    normalize_mcp_servers,
    normalize_model,
    normalize_skills,
)
from dma.schemas.agent_tools import ToolList, normalize_tools
from dma.schemas.common import RequestModel, SchemaError, describe_validation_error

_THREAD_AGENT_KEYS = (
    "id",
    "type",
    "version",
    "name",
    "model",
    "tools",
    "mcp_servers",
    "skills",
    "execution_identity",
    "description",
    "system",
)

Roster = Mapping[tuple[str, int], Mapping[str, Any]]


def thread_agent_snapshot(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SessionThreadAgent`` form of an agent response: the session snapshot without ``multiagent``."""
    snapshot = {key: agent.get(key) for key in _THREAD_AGENT_KEYS}
    snapshot["type"] = "agent"
    return snapshot


def session_agent_snapshot(agent_response: Mapping[str, Any], roster: Roster | None = None) -> dict[str, Any]:
    """The ``SessionAgent`` form of an agent response (no metadata, timestamps or archive state).

    Args:
        agent_response: an agent as ``agent_response`` builds it.
        roster: agent responses keyed by ``(id, version)`` for every agent the ``multiagent`` setting pins (the store's
            ``load_roster`` builds it); the session form repeats those agents in full. Without a roster the snapshot
            leaves ``multiagent`` out (null), since orchestration is not implemented.

    Raises:
        SchemaError: when ``multiagent`` pins an agent that ``roster`` lacks.
    """
    snapshot = thread_agent_snapshot(agent_response)
    multiagent = agent_response.get("multiagent")
    snapshot["multiagent"] = _session_multiagent(multiagent, roster) if multiagent and roster is not None else None
    return snapshot


def _session_multiagent(multiagent: Mapping[str, Any], roster: Roster) -> dict[str, Any]:
    def expand(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for ref in refs:
            if ref["type"] != "agent":
                out.append(ref)
                continue
            agent = roster.get((ref["id"], ref["version"]))
            if agent is None:
                raise SchemaError(f"multiagent agent {ref['id']!r} version {ref['version']} is not available")
            out.append(thread_agent_snapshot(agent))
        return out

    if multiagent["type"] == "coordinator":
        return {"type": "coordinator", "agents": expand(multiagent["agents"])}
    expanded: dict[str, Any] = {**multiagent}
    for key in ("subagents", "workflows"):
        if multiagent[key]["type"] == "enabled":
            expanded[key] = {**multiagent[key], "predefined_agents": expand(multiagent[key]["predefined_agents"])}
    return expanded


class AgentOverrides(RequestModel):
    """The fields ``agent_with_overrides`` may replace; each replaces the agent's value whole."""

    model: ModelIn | None = None
    system: SystemText | None = None
    tools: ToolList | None = None
    mcp_servers: McpServerList | None = None
    skills: SkillList | None = None


def apply_overrides(snapshot: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A session snapshot with ``agent_with_overrides`` values applied (``id`` and ``version`` stay the base agent's).

    Only the keys present in ``overrides`` change anything: ``model``, ``system``, ``tools``, ``mcp_servers`` and
    ``skills``; other keys are ignored. An effort inside a model override is ignored (the agent's effort stays).

    Raises:
        SchemaError: on invalid values, ``model: null`` (``agent_model_required``), or a result that breaks the
            agent rules (tools cleared while skills remain, MCP servers cleared while a toolset still references them).
    """
    try:
        parsed = AgentOverrides.model_validate(dict(overrides))
    except ValidationError as error:
        raise SchemaError(f"agent: {describe_validation_error(error)}") from None
    sent = parsed.model_fields_set
    result = dict(snapshot)
    if "model" in sent:
        if parsed.model is None:
            raise SchemaError("agent.model cannot be null", error_code="agent_model_required")
        model = normalize_model(parsed.model)
        model["effort"] = snapshot["model"].get("effort", model["effort"])
        result["model"] = model
    if "system" in sent:
        result["system"] = parsed.system or None
    if "tools" in sent:
        result["tools"] = normalize_tools(parsed.tools or [])
    if "mcp_servers" in sent:
        result["mcp_servers"] = normalize_mcp_servers(parsed.mcp_servers or [])
    if "skills" in sent:
        result["skills"] = normalize_skills(parsed.skills or [])
    check_agent_body(result)
    return result
