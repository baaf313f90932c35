"""Agent requests and responses (API_CONTRACT.md §2.1, §4).

A request is validated by the models here, then normalized into the response form that ``AgentVersion.body`` stores,
so reads never re-derive it and updates can detect a no-op by comparing two bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from dma.clock import rfc3339
from dma.schemas.agent_multiagent import MultiagentIn, normalize_multiagent
from dma.schemas.agent_parts import (
    AgentName,
    DescriptionText,
    IdentityIn,
    McpServerList,
    ModelIn,
    SkillList,
    SystemText,
    check_agent_body,
    normalize_identity,
    normalize_mcp_servers,
    normalize_model,
    normalize_skills,
)
from dma.schemas.agent_snapshot import apply_overrides, session_agent_snapshot, thread_agent_snapshot
from dma.schemas.agent_tools import ToolList, normalize_tools
from dma.schemas.common import Page, RequestModel, SchemaError, check_metadata, merge_metadata
from dma.store.tables import Agent, AgentVersion

__all__ = [
    "AgentCreate",
    "AgentOut",
    "AgentPage",
    "AgentUpdate",
    "agent_response",
    "apply_overrides",
    "session_agent_snapshot",
    "thread_agent_snapshot",
]

BODY_KEYS = (
    "name",
    "description",
    "system",
    "model",
    "tools",
    "mcp_servers",
    "skills",
    "multiagent",
    "execution_identity",
    "metadata",
)


class AgentCreate(RequestModel):
    """Body of ``POST /v1/agents``."""

    model: ModelIn
    name: AgentName
    description: DescriptionText | None = None
    system: SystemText | None = None
    tools: ToolList | None = None
    mcp_servers: McpServerList | None = None
    skills: SkillList | None = None
    multiagent: MultiagentIn | None = None
    execution_identity: IdentityIn | None = None
    metadata: dict[str, str] | None = None

    def to_body(self) -> dict[str, Any]:
        """The normalized body of version 1 (``multiagent`` still pending; the store pins it).

        Raises:
            SchemaError: when the agent breaks a rule that spans fields, or the metadata limits.
        """
        body = {
            "name": self.name,
            "description": self.description or None,
            "system": self.system or None,
            "model": normalize_model(self.model),
            "tools": normalize_tools(self.tools or []),
            "mcp_servers": normalize_mcp_servers(self.mcp_servers or []),
            "skills": normalize_skills(self.skills or []),
            "multiagent": normalize_multiagent(self.multiagent),
            "execution_identity": normalize_identity(self.execution_identity),
            "metadata": check_metadata(self.metadata or {}),
        }
        check_agent_body(body)
        return body


# How an update replaces each field that it sends; ``null`` and ``""``/``[]`` clear where the contract allows it.
_REPLACE: dict[str, Callable[[Any], Any]] = {
    "description": lambda value: value or None,
    "system": lambda value: value or None,
    "tools": lambda value: normalize_tools(value or []),
    "mcp_servers": lambda value: normalize_mcp_servers(value or []),
    "skills": lambda value: normalize_skills(value or []),
    "multiagent": normalize_multiagent,
    "execution_identity": normalize_identity,
}


class AgentUpdate(RequestModel):
    """Body of ``POST /v1/agents/{id}``: an absent key keeps its value (``model_fields_set`` tells them apart)."""

    version: Annotated[int, Field(ge=1)] | None = None
    name: AgentName | None = None
    model: ModelIn | None = None
    description: DescriptionText | None = None
    system: SystemText | None = None
    tools: ToolList | None = None
    mcp_servers: McpServerList | None = None
    skills: SkillList | None = None
    multiagent: MultiagentIn | None = None
    execution_identity: IdentityIn | None = None
    metadata: dict[str, str | None] | None = None

    def apply(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """The body that results from applying this update to ``current`` (a stored, normalized body).

        Raises:
            SchemaError: when ``name`` or ``model`` is null, or the result breaks the agent or metadata rules.
        """
        sent = self.model_fields_set
        body = dict(current)
        for key, replace in _REPLACE.items():
            if key in sent:
                body[key] = replace(getattr(self, key))
        if "name" in sent:
            if self.name is None:
                raise SchemaError("name cannot be cleared")
            body["name"] = self.name
        if "model" in sent:
            if self.model is None:
                raise SchemaError("model cannot be cleared")
            body["model"] = normalize_model(self.model, previous=current["model"])
        if self.metadata is not None:
            body["metadata"] = merge_metadata(current["metadata"], self.metadata)
        check_agent_body(body)
        return body


def agent_response(agent: Agent, version: AgentVersion) -> dict[str, Any]:
    """The ``agent`` object at one version; ``updated_at`` is when that version was saved."""
    body = version.body
    return {
        "id": agent.id,
        "type": "agent",
        "version": version.version,
        **{key: body.get(key) for key in BODY_KEYS},
        "metadata": body.get("metadata") or {},
        "created_at": rfc3339(agent.created_at),
        "updated_at": rfc3339(version.created_at),
        "archived_at": rfc3339(agent.archived_at),
    }


class ModelConfigOut(BaseModel):
    """``ModelConfig`` in responses; options that were never set are left out rather than sent as null."""

    id: str
    effort: dict[str, str] | None = None
    inference_geo: str | None = None
    speed: Literal["standard", "fast"] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class AgentOut(BaseModel):
    """The ``agent`` object (tool, skill and multiagent entries are unions keyed by ``type``)."""

    id: str
    type: Literal["agent"]
    name: str
    version: int
    model: ModelConfigOut
    tools: list[dict[str, Any]]
    mcp_servers: list[dict[str, Any]]
    skills: list[dict[str, Any]]
    metadata: dict[str, str]
    execution_identity: dict[str, Any]
    created_at: str
    updated_at: str
    description: str | None = None
    system: str | None = None
    multiagent: dict[str, Any] | None = None
    archived_at: str | None = None


AgentPage = Page[AgentOut]
