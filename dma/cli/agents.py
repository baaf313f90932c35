"""``dma agents list|show|create|apply``: agents (and, in files, environments) through the public API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from dma.cli import declarative
from dma.cli.client import ApiKeyOpt, BaseUrlOpt, connect
from dma.cli.declarative import Spec, SpecError
from dma.cli.output import err, fail, out, table
from dma.cli.render import ago

if TYPE_CHECKING:
    import anthropic  # the SDK loads in about a second: only the commands that call the API import it

agents = typer.Typer(help="List, show, create and apply agents (declarative files: dma agents apply -f dir/).")
FileOpt = Annotated[Path, typer.Option("--file", "-f", help="A YAML/JSON file, or a directory of them.")]


def register(app: typer.Typer) -> None:
    """Add ``dma agents`` to the ``dma`` command."""
    app.add_typer(agents, name="agents", no_args_is_help=True)


def as_dict(model: Any) -> dict[str, Any]:
    """An SDK object as the JSON the API sent."""
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


def tool_label(tool: dict[str, Any]) -> str:
    """A short name for a tools entry: the built-in toolset, an MCP server's tools, or a custom tool."""
    kind = str(tool.get("type", "?"))
    if kind.startswith("agent_toolset"):
        return "built-in tools"
    if kind == "mcp_toolset":
        return f"mcp:{tool.get('mcp_server_name', '?')}"
    return str(tool.get("name", kind))


def find_agent(client: anthropic.Anthropic, ref: str) -> Any:
    """An agent by id, or by name among the agents that are not archived."""
    if ref.startswith("agent_"):
        return client.beta.agents.retrieve(ref)
    named = [agent for agent in client.beta.agents.list(limit=100) if agent.name == ref]
    if not named:
        fail(f"no agent named {ref!r} (dma agents list shows them)")
    if len(named) > 1:
        fail(f"{len(named)} agents are named {ref!r}; use an id: {', '.join(a.id for a in named)}")
    return named[0]


@agents.command("list")
def list_agents(
    archived: Annotated[bool, typer.Option(help="Include archived agents.")] = False,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """List agents, newest first."""
    with connect(api_key, base_url) as client:
        rows = list(client.beta.agents.list(limit=100, include_archived=archived))
    if not rows:
        err.print("no agents yet: dma agents apply -f examples/ (or create one in the console)")
        return
    grid = table("ID", "NAME", "MODEL", "VERSION", "TOOLS", "UPDATED")
    for agent in rows:
        name = agent.name + (" (archived)" if agent.archived_at else "")
        tools = ", ".join(tool_label(as_dict(tool)) for tool in agent.tools) or "—"
        grid.add_row(agent.id, name, agent.model.id, str(agent.version), tools, ago(agent.updated_at))
    out.print(grid)


@agents.command()
def show(
    agent: Annotated[str, typer.Argument(help="Agent id or name.")],
    version: Annotated[int | None, typer.Option(help="A past version.")] = None,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Show an agent as YAML (the form ``dma agents apply`` takes)."""
    with connect(api_key, base_url) as client:
        found = find_agent(client, agent)
        if version is not None:
            found = client.beta.agents.retrieve(found.id, version=version)
    text: str = yaml.safe_dump(as_dict(found), sort_keys=False, allow_unicode=True)  # pyright: ignore[reportUnknownMemberType] - the stubs leave one overload's width untyped
    out.print(text.rstrip(), markup=False)


@agents.command()
def create(file: FileOpt, api_key: ApiKeyOpt = None, base_url: BaseUrlOpt = None) -> None:
    """Create the agents and environments a file declares (always new ones; apply updates instead)."""
    specs = _load(file)
    with connect(api_key, base_url) as client:
        for spec in specs:
            created = _create(client, spec)
            out.print(f"created {spec.kind} {spec.name} ({_describe(spec, created)})", markup=False)


@agents.command()
def apply(file: FileOpt, api_key: ApiKeyOpt = None, base_url: BaseUrlOpt = None) -> None:
    """Make the agents and environments in files what they declare; a second apply changes nothing."""
    specs = _load(file)
    with connect(api_key, base_url) as client:
        with err.status(f"applying {len(specs)} declaration(s) from {file} …"):
            lines = [apply_spec(client, spec) for spec in specs]
    for line in lines:
        out.print(line, markup=False)


def _load(file: Path) -> list[Spec]:
    try:
        specs = declarative.load(file)
    except SpecError as error:
        fail(str(error), code=2)
    if not specs:
        fail(f"{file}: no agents or environments declared", code=2)
    return specs


def apply_spec(client: anthropic.Anthropic, spec: Spec) -> str:
    """Create or update one declared resource; says which it did (or that nothing changed)."""
    stored = _existing(client, spec)
    if stored is None:
        return f"created {spec.kind} {spec.name} ({_describe(spec, _create(client, spec))})"
    update = declarative.changes(spec, as_dict(stored))
    if not update:
        return f"unchanged {spec.kind} {spec.name} ({_describe(spec, stored)})"
    if spec.kind == "agent":
        updated = client.beta.agents.update(stored.id, version=stored.version, extra_body=update)
        if updated.version == stored.version:
            return f"unchanged {spec.kind} {spec.name} ({_describe(spec, updated)})"
        versions = f"v{stored.version} → v{updated.version}"
        return f"updated {spec.kind} {spec.name} ({updated.id}, {versions}: {', '.join(update)})"
    updated = client.beta.environments.update(stored.id, extra_body=update)
    return f"updated {spec.kind} {spec.name} ({updated.id}: {', '.join(update)})"


def _existing(client: anthropic.Anthropic, spec: Spec) -> Any | None:
    if spec.kind == "agent":
        if spec.resource_id:
            return client.beta.agents.retrieve(spec.resource_id)
        matches: list[Any] = [agent for agent in client.beta.agents.list(limit=100) if agent.name == spec.name]
    else:
        if spec.resource_id:
            return client.beta.environments.retrieve(spec.resource_id)
        matches = [env for env in client.beta.environments.list(limit=100) if env.name == spec.name]
    if len(matches) > 1:
        fail(f"{spec.source}: {len(matches)} {spec.kind}s are named {spec.name!r}; add `id: …` to pick one")
    return matches[0] if matches else None


def _create(client: anthropic.Anthropic, spec: Spec) -> Any:
    body = dict(spec.body)
    name = body.pop("name")
    if spec.kind == "agent":
        return client.beta.agents.create(name=name, model=body.pop("model"), extra_body=body)
    return client.beta.environments.create(name=name, extra_body=body)


def _describe(spec: Spec, resource: Any) -> str:
    return f"{resource.id}, v{resource.version}" if spec.kind == "agent" else str(resource.id)
