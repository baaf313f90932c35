"""The ``agent.mcp_tool_use`` event of a model's call of an MCP tool, with its permission verdict.

The event carries the server's name and the tool's own name (as the SDK type defines them); the name the model used
(``mcp__server__tool``) stays in the row's private ``extra``, so the conversation can be rebuilt as the model saw it.
"""

from __future__ import annotations

from typing import Any

from activities.events import Step
from activities.mcp.catalog import McpTool
from activities.permissions import evaluate_mcp
from dma.store.events import NewEvent
from workflows.contracts import ToolUseRef


def mcp_tool_use(
    step: Step, slot: str, agent: dict[str, Any], tool: McpTool, tool_input: dict[str, Any], preview: str
) -> tuple[NewEvent, ToolUseRef]:
    """The event to write and the reference the workflow gets."""
    verdict = evaluate_mcp(agent, tool.server, tool.name)
    body = {"name": tool.name, "mcp_server_name": tool.server, "input": tool_input, **verdict.event_fields()}
    event = step.event(slot, "agent.mcp_tool_use", body, {"model_name": tool.model_name})
    ref = ToolUseRef(
        event_id=event.id,
        name=tool.name,
        kind="mcp",
        permission=verdict.verdict,
        preview=preview,
        mcp_server_name=tool.server,
    )
    return event, ref
