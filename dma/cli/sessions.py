"""``dma sessions list|show|tail``: sessions through the public API; ``tail`` follows one live, deltas included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape

from dma.cli.agents import as_dict, find_agent
from dma.cli.client import ApiKeyOpt, BaseUrlOpt, connect
from dma.cli.output import err, out, table
from dma.cli.render import Renderer, ago, usage_line
from dma.cli.stream import Follower

if TYPE_CHECKING:
    import anthropic  # the SDK loads in about a second: only the commands that call the API import it

Status = Literal["idle", "running", "rescheduling", "terminated"]
STATUS_STYLE = {"idle": "green", "running": "cyan", "rescheduling": "yellow", "terminated": "red"}
sessions = typer.Typer(help="List and show sessions; tail one live.")
SessionArg = Annotated[str, typer.Argument(help="Session id (sesn_…).")]
HistoryOpt = Annotated[int, typer.Option("--history", "-n", help="Persisted events to show first.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Also show bookkeeping events (spans, updates).")]


def register(app: typer.Typer) -> None:
    """Add ``dma sessions`` to the ``dma`` command."""
    app.add_typer(sessions, name="sessions", no_args_is_help=True)


@sessions.command("list")
def list_sessions(
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="Only these statuses (repeatable).")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Only sessions of this agent (id or name).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """List sessions, newest first."""
    with connect(api_key, base_url) as client:
        agent_id = find_agent(client, agent).id if agent else None
        query: dict[str, Any] = {"statuses": status} if status else {}
        filters: dict[str, Any] = {"agent_id": agent_id} if agent_id else {}
        page = client.beta.sessions.list(limit=limit, extra_query=query or None, **filters)
        rows = list(page.data)
    if not rows:
        err.print("no sessions" + (" with that filter" if status or agent else " yet: try dma chat AGENT"))
        return
    grid = table("ID", "STATUS", "AGENT", "TITLE", "TOKENS IN/OUT", "UPDATED")
    for row in rows:
        usage = row.usage
        tokens = f"{usage.input_tokens or 0}/{usage.output_tokens or 0}"
        style = STATUS_STYLE.get(row.status, "white")
        grid.add_row(
            row.id,
            f"[{style}]{row.status}[/]",
            escape(row.agent.name),
            escape(row.title or "—"),
            tokens,
            ago(row.updated_at),
        )
    out.print(grid)


@sessions.command()
def show(
    session: SessionArg,
    history: HistoryOpt = 10,
    show_all: AllOpt = False,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Show a session: its agent, status, usage and latest events."""
    with connect(api_key, base_url) as client:
        row = client.beta.sessions.retrieve(session)
        events = _latest(client, session, history)
    style = STATUS_STYLE.get(row.status, "white")
    out.print(f"[bold]{escape(row.title or row.id)}[/]  [{style}]{row.status}[/]")
    out.print(f"  id           {row.id}")
    out.print(f"  agent        {escape(row.agent.name)} ({row.agent.id}, v{row.agent.version})")
    out.print(f"  environment  {row.environment_id}")
    out.print(f"  created      {row.created_at.isoformat()} ({ago(row.created_at)})")
    out.print(f"  {usage_line(as_dict(row.usage))} · active {row.stats.active_seconds or 0:.1f} s")
    if events:
        out.print(f"\n[bold]latest {len(events)} events[/]")
        renderer = Renderer(out, show_all=show_all)
        for event in events:
            renderer.show(event)


@sessions.command()
def tail(
    session: SessionArg,
    history: HistoryOpt = 10,
    show_all: AllOpt = False,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Follow a session live: its latest events, then everything as it happens (replies stream as they are written)."""
    with connect(api_key, base_url) as client:
        row = client.beta.sessions.retrieve(session)
        events = _latest(client, session, history)
        renderer = Renderer(out, show_all=show_all)
        for event in events:
            renderer.show(event)
        err.print(f"[dim]following {row.id} ({row.status}) · Ctrl-C stops[/]")
        follower = Follower(client, session, after=str(events[-1]["id"]) if events else None)
        try:
            for event in follower:
                renderer.show(event)
        except KeyboardInterrupt:
            follower.close()
            out.print()


def _latest(client: anthropic.Anthropic, session_id: str, count: int) -> list[dict[str, Any]]:
    """The session's last ``count`` persisted events, oldest first (queued ones have no stream position yet)."""
    if count <= 0:
        return []
    page = client.beta.sessions.events.list(session_id, order="desc", limit=count)
    return [as_dict(event) for event in reversed(page.data) if event.processed_at is not None]
