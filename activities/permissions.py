"""Permission policies of the built-in toolset and of MCP toolsets (API_CONTRACT.md §4.3, §4.6), evaluated per call.

The verdict is computed where the ``agent.tool_use`` event is written (the model activity), from the session's agent
snapshot, and recorded on the event (``evaluated_permission``, ``evaluation``) in the same transaction; the workflow
then acts on it. Keeping the evaluation next to the snapshot spares the workflow from carrying tool configs in its
history, and the function is pure, so the verdict is as reproducible as if the workflow computed it.

``auto`` is a conservative rule set: tools that only read the workspace run; anything that writes, executes or
reaches the network asks a person (``reason_code: indeterminate``). It never reads tool output as instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from activities.tools.definitions import BUILTIN_TOOLS

Verdict = Literal["allow", "ask", "deny"]
READ_ONLY_TOOLS = frozenset({"read", "glob", "grep"})


@dataclass(frozen=True)
class Evaluation:
    """The verdict and the wire ``evaluation`` object (None when no policy ran: the tool is not enabled)."""

    verdict: Verdict
    evaluation: dict[str, Any] | None

    def event_fields(self) -> dict[str, Any]:
        """Fields for the ``agent.tool_use`` event."""
        fields: dict[str, Any] = {"evaluated_permission": self.verdict}
        if self.evaluation is not None:
            fields["evaluation"] = self.evaluation
        return fields


def _toolset(agent: dict[str, Any]) -> dict[str, Any] | None:
    return next((t for t in agent.get("tools", []) if t.get("type") == "agent_toolset_20260401"), None)


def _policy_for(toolset: dict[str, Any], name: str) -> tuple[bool, dict[str, Any]]:
    default: dict[str, Any] = toolset.get("default_config") or {}
    enabled = bool(default.get("enabled", True))
    policy: dict[str, Any] = default.get("permission_policy") or {"type": "always_allow"}
    configs: list[dict[str, Any]] = toolset.get("configs") or []
    for entry in configs:
        if entry.get("name") == name:
            enabled = bool(entry.get("enabled", enabled))
            policy = entry.get("permission_policy") or policy
    return enabled, policy


def auto_verdict(name: str) -> Evaluation:
    """The ``auto`` rule set: read-only tools run, everything else asks."""
    if name in READ_ONLY_TOOLS:
        return Evaluation("allow", {"type": "auto", "evaluated_permission": {"type": "allow"}})
    asked = {"type": "ask", "reason_code": "indeterminate"}
    return Evaluation("ask", {"type": "auto", "evaluated_permission": asked})


def evaluate_builtin(agent: dict[str, Any], name: str) -> Evaluation:
    """The verdict for a call of built-in tool ``name`` under the agent's toolset configuration."""
    toolset = _toolset(agent)
    if toolset is None or name not in BUILTIN_TOOLS:
        return Evaluation("deny", None)
    enabled, policy = _policy_for(toolset, name)
    if not enabled:
        return Evaluation("deny", None)
    kind = policy.get("type")
    if kind == "always_ask":
        return Evaluation("ask", {"type": "always_ask"})
    if kind == "auto":
        return auto_verdict(name)
    return Evaluation("allow", {"type": "always_allow"})


def denial_text(tool_name: str, deny_message: str | None = None) -> str:
    """What the model reads when a call is denied."""
    text = f"Permission to use {tool_name} has been denied."
    return f"{text} {deny_message}" if deny_message else text


def _mcp_toolset(agent: dict[str, Any], server_name: str) -> dict[str, Any] | None:
    return next(
        (
            t
            for t in agent.get("tools", [])
            if t.get("type") == "mcp_toolset" and t.get("mcp_server_name") == server_name
        ),
        None,
    )


def _mcp_policy(toolset: dict[str, Any], tool_name: str) -> tuple[bool, dict[str, Any]]:
    # MCP tools are unknown in advance: a toolset without a stored policy asks first (§4.3 b).
    default: dict[str, Any] = toolset.get("default_config") or {}
    enabled = bool(default.get("enabled", True))
    policy: dict[str, Any] = default.get("permission_policy") or {"type": "always_ask"}
    configs: list[dict[str, Any]] = toolset.get("configs") or []
    for entry in configs:
        if entry.get("name") == tool_name:
            enabled = bool(entry.get("enabled", enabled))
            policy = entry.get("permission_policy") or policy
    return enabled, policy


def mcp_tool_enabled(agent: dict[str, Any], server_name: str, tool_name: str) -> bool:
    """Whether the agent's ``mcp_toolset`` for the server offers this tool to the model."""
    toolset = _mcp_toolset(agent, server_name)
    return toolset is not None and _mcp_policy(toolset, tool_name)[0]


def evaluate_mcp(agent: dict[str, Any], server_name: str, tool_name: str) -> Evaluation:
    """The verdict for a call of MCP tool ``tool_name`` of ``server_name`` under the agent's ``mcp_toolset``.

    ``auto`` asks (``indeterminate``): what an MCP tool does is the server's word, and a server's hints (such as
    ``readOnlyHint``) are not evidence this server can check.
    """
    toolset = _mcp_toolset(agent, server_name)
    if toolset is None:
        return Evaluation("deny", None)
    enabled, policy = _mcp_policy(toolset, tool_name)
    if not enabled:
        return Evaluation("deny", None)
    kind = policy.get("type")
    if kind == "always_allow":
        return Evaluation("allow", {"type": "always_allow"})
    if kind == "auto":
        asked = {"type": "ask", "reason_code": "indeterminate"}
        return Evaluation("ask", {"type": "auto", "evaluated_permission": asked})
    return Evaluation("ask", {"type": "always_ask"})
