"""An agent's ``tools``: request models and their response form (API_CONTRACT.md §4.3).

Responses always carry the resolved form: every toolset has a full ``default_config`` and every ``configs`` entry its
``enabled`` and ``permission_policy``, inherited from the default when the request left them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from dma.schemas.agent_web import WebFetchOptions, WebSearchOptions
from dma.schemas.common import RequestModel, SchemaError

PolicyType = Literal["always_allow", "always_ask", "auto"]
BasicToolName = Literal["bash", "read", "write", "edit", "glob", "grep"]
BUILTIN_TOOLS: frozenset[str] = frozenset({*get_args(BasicToolName), "web_fetch", "web_search"})
MAX_TOOLS = 256
TOOLSET_TYPE = "agent_toolset_20260401"

CustomToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
McpName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class PermissionPolicy(RequestModel):
    """How a tool call is approved (API_CONTRACT.md §4.6)."""

    type: PolicyType


class DefaultConfig(RequestModel):
    """A toolset's ``default_config``; unset parts take the toolset's defaults."""

    enabled: bool | None = None
    permission_policy: PermissionPolicy | None = None

    def resolved(self, default_policy: PolicyType) -> dict[str, Any]:
        """The response form, with ``enabled`` defaulting to true and the policy to ``default_policy``."""
        return {
            "enabled": True if self.enabled is None else self.enabled,
            "permission_policy": {"type": self.permission_policy.type if self.permission_policy else default_policy},
        }


class _ToolSwitch(RequestModel):
    enabled: bool | None = None
    permission_policy: PermissionPolicy | None = None

    def switch(self, default: dict[str, Any]) -> dict[str, Any]:
        return {
            "enabled": default["enabled"] if self.enabled is None else self.enabled,
            "permission_policy": self.permission_policy.model_dump()
            if self.permission_policy
            else default["permission_policy"],
        }


class _BuiltinConfig(_ToolSwitch):
    @field_validator("type", check_fields=False)
    @classmethod
    def _type_matches_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value != info.data.get("name"):
            raise ValueError("type must equal name when given")
        return value

    def extras(self) -> dict[str, Any]:
        return {}


class BasicToolConfig(_BuiltinConfig):
    """A ``configs`` entry for a built-in tool without extra options."""

    name: BasicToolName
    type: BasicToolName | None = None


class WebFetchConfig(WebFetchOptions, _BuiltinConfig):
    """The ``configs`` entry of ``web_fetch``."""

    name: Literal["web_fetch"]
    type: Literal["web_fetch"] | None = None


class WebSearchConfig(WebSearchOptions, _BuiltinConfig):
    """The ``configs`` entry of ``web_search``."""

    name: Literal["web_search"]
    type: Literal["web_search"] | None = None


ToolConfig = Annotated[BasicToolConfig | WebFetchConfig | WebSearchConfig, Field(discriminator="name")]


def _config_entry(
    config: BasicToolConfig | WebFetchConfig | WebSearchConfig, default: dict[str, Any]
) -> dict[str, Any]:
    return {"type": config.name, "name": config.name, **config.switch(default), **config.extras()}


class AgentToolset(RequestModel):
    """The built-in toolset; its tools are allowed without asking unless configured otherwise."""

    type: Literal["agent_toolset_20260401"]
    default_config: DefaultConfig | None = None
    configs: list[ToolConfig] | None = None

    @model_validator(mode="after")
    def _unique_configs(self) -> AgentToolset:
        _require_unique([c.name for c in self.configs or []], "agent_toolset_20260401 configs")
        return self

    def normalized(self) -> dict[str, Any]:
        default = (self.default_config or DefaultConfig()).resolved("always_allow")
        return {
            "type": TOOLSET_TYPE,
            "default_config": default,
            "configs": [_config_entry(c, default) for c in self.configs or []],
        }


class McpToolConfig(_ToolSwitch):
    """A ``configs`` entry of an ``mcp_toolset``, naming one tool of the server."""

    name: McpName


class McpToolset(RequestModel):
    """The tools of one MCP server named in ``mcp_servers``."""

    type: Literal["mcp_toolset"]
    mcp_server_name: McpName
    default_config: DefaultConfig | None = None
    configs: list[McpToolConfig] | None = None

    @model_validator(mode="after")
    def _unique_configs(self) -> McpToolset:
        _require_unique([c.name for c in self.configs or []], "mcp_toolset configs")
        return self

    def normalized(self) -> dict[str, Any]:
        # MCP tools are unknown in advance, so they default to asking first (§4.3 b).
        default = (self.default_config or DefaultConfig()).resolved("always_ask")
        configs = [{"name": c.name, **c.switch(default)} for c in self.configs or []]
        return {
            "type": "mcp_toolset",
            "mcp_server_name": self.mcp_server_name,
            "default_config": default,
            "configs": configs,
        }


class CustomToolInputSchema(BaseModel):
    """A JSON Schema object; keys beyond ``properties`` and ``required`` are kept as given."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["object"]
    properties: dict[str, Any] | None = None
    required: list[str] | None = None


class CustomTool(RequestModel):
    """A tool the client runs itself (``agent.custom_tool_use`` → ``user.custom_tool_result``)."""

    type: Literal["custom"]
    name: CustomToolName
    description: str
    input_schema: CustomToolInputSchema

    def normalized(self) -> dict[str, Any]:
        schema = self.input_schema.model_dump(exclude_unset=True)
        return {"type": "custom", "name": self.name, "description": self.description, "input_schema": schema}


ToolIn = Annotated[AgentToolset | McpToolset | CustomTool, Field(discriminator="type")]
ToolList = Annotated[list[ToolIn], Field(max_length=MAX_TOOLS)]


def _require_unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where} name {name!r} appears more than once")
        seen.add(name)


def normalize_tools(tools: Sequence[AgentToolset | McpToolset | CustomTool]) -> list[dict[str, Any]]:
    """The response form of a validated ``tools`` list.

    Raises:
        SchemaError: on a second built-in toolset, a second toolset for one MCP server, duplicate custom tool names
            (``tool_name_conflict``), or a web_fetch ``url_sources`` list naming a custom tool that does not exist.
    """
    toolsets = [t for t in tools if isinstance(t, AgentToolset)]
    if len(toolsets) > 1:
        raise SchemaError(f"tools may hold at most one {TOOLSET_TYPE}")
    servers = [t.mcp_server_name for t in tools if isinstance(t, McpToolset)]
    if len(set(servers)) != len(servers):
        raise SchemaError("each MCP server may have at most one mcp_toolset")
    custom = [t.name for t in tools if isinstance(t, CustomTool)]
    taken = BUILTIN_TOOLS if toolsets else frozenset[str]()
    clash = next((n for i, n in enumerate(custom) if n in taken or n in custom[:i]), None)
    if clash is not None:
        raise SchemaError(f"tool name {clash!r} is used by more than one tool", error_code="tool_name_conflict")
    configs = (toolsets[0].configs or []) if toolsets else []
    for config in configs:
        if isinstance(config, WebFetchConfig):
            _check_client_tool_refs(config, set(custom))
    return [t.normalized() for t in tools]


def _check_client_tool_refs(config: WebFetchConfig, custom_names: set[str]) -> None:
    for name in config.client_tool_names():
        if name not in custom_names:
            raise SchemaError(f"web_fetch url_sources.client_tool_results names {name!r}, which is not a custom tool")


def find_toolset(tools: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The normalized ``agent_toolset_20260401`` entry of a tools list, if any."""
    return next((t for t in tools if t.get("type") == TOOLSET_TYPE), None)


def builtin_enabled(tools: Sequence[dict[str, Any]], name: str) -> bool:
    """Whether a built-in tool is available: its ``configs`` entry decides, else the toolset's ``default_config``."""
    toolset = find_toolset(tools)
    if toolset is None:
        return False
    entry = next((c for c in toolset["configs"] if c["name"] == name), toolset["default_config"])
    return bool(entry["enabled"])


def mcp_toolset_servers(tools: Sequence[dict[str, Any]]) -> list[str]:
    """The MCP server names referenced by the ``mcp_toolset`` entries of a normalized tools list."""
    return [str(t["mcp_server_name"]) for t in tools if t.get("type") == "mcp_toolset"]
