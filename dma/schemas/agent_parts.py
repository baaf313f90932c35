"""An agent's model, MCP servers, skills and execution identity (API_CONTRACT.md §4.2, §4.4, §4.5, §4.8).

Each ``normalize_*`` function turns validated request values into the response form stored in ``AgentVersion.body``,
and ``check_agent_body`` enforces the rules that span several fields of the resulting agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from dma.builtin_mcp import builtin_url_problem
from dma.schemas.agent_tools import McpName, builtin_enabled, mcp_toolset_servers
from dma.schemas.common import RequestModel, SchemaError, drop_none

EffortLevel = Literal["low", "medium", "high", "xhigh", "max"]
# The contract says effort is always resolved to the model's default; "high" is the Messages API default.
DEFAULT_EFFORT: EffortLevel = "high"
LATEST = "latest"
MAX_MCP_SERVERS = 20
MAX_SKILLS = 64

AgentName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
DescriptionText = Annotated[str, StringConstraints(max_length=2048)]
SystemText = Annotated[str, StringConstraints(max_length=100_000)]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
SkillVersion = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EffortObject(RequestModel):
    """The object form of an effort level."""

    type: EffortLevel


class ModelConfigIn(RequestModel):
    """The object form of ``model``."""

    id: ModelId
    effort: EffortLevel | EffortObject | None = None
    inference_geo: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    speed: Literal["standard", "fast"] | None = None


ModelIn = ModelId | ModelConfigIn


def normalize_model(model: ModelIn, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``ModelConfig`` response form of a model string or object.

    An omitted effort keeps ``previous``'s effort when the model id is unchanged (update semantics), and otherwise
    resolves to ``DEFAULT_EFFORT``. ``inference_geo`` and ``speed`` appear only when given.
    """
    config = ModelConfigIn(id=model) if isinstance(model, str) else model
    effort: Any = config.effort.type if isinstance(config.effort, EffortObject) else config.effort
    if effort is None and previous is not None and previous.get("id") == config.id:
        kept: Mapping[str, Any] = previous.get("effort") or {}
        effort = kept.get("type")
    return drop_none(
        {
            "id": config.id,
            "effort": {"type": effort or DEFAULT_EFFORT},
            "inference_geo": config.inference_geo,
            "speed": config.speed,
        }
    )


class McpServerIn(RequestModel):
    """One entry of ``mcp_servers``; credentials come from vaults, never from the agent.

    ``dma://`` names a server built into the worker (``dma.builtin_mcp``), such as ``dma://wakeups``.
    """

    type: Literal["url"]
    name: McpName
    url: Annotated[str, StringConstraints(pattern=r"^(https?|dma)://[^\s]+$", max_length=2048)]


McpServerList = Annotated[list[McpServerIn], Field(max_length=MAX_MCP_SERVERS)]


def normalize_mcp_servers(servers: Sequence[McpServerIn]) -> list[dict[str, Any]]:
    """The response form of ``mcp_servers``.

    Raises:
        SchemaError: when two servers share a name, or a ``dma://`` URL names no built-in server.
    """
    names = [s.name for s in servers]
    duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if duplicate is not None:
        raise SchemaError(f"mcp_servers name {duplicate!r} appears more than once")
    problem = next((p for s in servers if (p := builtin_url_problem(s.url)) is not None), None)
    if problem is not None:
        raise SchemaError(problem)
    return [s.model_dump() for s in servers]


class AnthropicSkill(RequestModel):
    """A skill Anthropic publishes, such as ``xlsx``."""

    type: Literal["anthropic"]
    skill_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    version: SkillVersion | None = None


class CustomSkill(RequestModel):
    """A skill uploaded through ``/v1/skills``."""

    type: Literal["custom"]
    skill_id: Annotated[str, StringConstraints(pattern=r"^skill_[A-Za-z0-9_-]{1,100}$")]
    version: SkillVersion | None = None


SkillIn = Annotated[AnthropicSkill | CustomSkill, Field(discriminator="type")]
SkillList = Annotated[list[SkillIn], Field(max_length=MAX_SKILLS)]


def normalize_skills(skills: Sequence[AnthropicSkill | CustomSkill]) -> list[dict[str, Any]]:
    """The response form of ``skills``: every entry carries a version string (``latest`` when none was given).

    Raises:
        SchemaError: when a skill is listed twice.
    """
    keys = [(s.type, s.skill_id) for s in skills]
    duplicate = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if duplicate is not None:
        raise SchemaError(f"skill {duplicate[1]!r} is listed more than once")
    return [{"type": s.type, "skill_id": s.skill_id, "version": s.version or LATEST} for s in skills]


class ServiceAccountIdentity(RequestModel):
    """The default execution identity."""

    type: Literal["service_account"]


class AwsRoleIdentity(RequestModel):
    """Runs carry an AWS role."""

    type: Literal["aws_role"]
    role_arn: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


IdentityIn = Annotated[ServiceAccountIdentity | AwsRoleIdentity, Field(discriminator="type")]


def normalize_identity(identity: ServiceAccountIdentity | AwsRoleIdentity | None) -> dict[str, Any]:
    """The response form of ``execution_identity``; omission and ``null`` both mean the service account."""
    return identity.model_dump() if identity is not None else {"type": "service_account"}


def check_agent_body(body: Mapping[str, Any]) -> None:
    """Rules that span fields of a resulting agent (after a create, an update or session overrides).

    Raises:
        SchemaError: when an MCP server is not referenced by an ``mcp_toolset`` (or the reverse), or when skills are
            set but the built-in ``read`` tool, which loads them, is unavailable.
    """
    servers = {str(s["name"]) for s in body["mcp_servers"]}
    referenced = set(mcp_toolset_servers(body["tools"]))
    if unreferenced := sorted(servers - referenced):
        raise SchemaError(f"mcp_servers {unreferenced[0]!r} is not referenced by any mcp_toolset in tools")
    if unknown := sorted(referenced - servers):
        raise SchemaError(f"mcp_toolset references {unknown[0]!r}, which is not in mcp_servers")
    if body["skills"] and not builtin_enabled(body["tools"], "read"):
        raise SchemaError("skills need the read tool: add an enabled agent_toolset_20260401 whose read tool is on")
