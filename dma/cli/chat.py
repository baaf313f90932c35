"""``dma chat AGENT``: an interactive session in the terminal.

Type a message and watch the reply stream; answer tool confirmations with y/n; Ctrl-C interrupts the turn in
flight (``user.interrupt``), and Ctrl-C or Ctrl-D at the prompt leaves (the session stays, idle, for later).
The stream is read in a background thread, so the keyboard is always free.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from dma.cli.agents import find_agent
from dma.cli.client import ApiKeyOpt, BaseUrlOpt, connect
from dma.cli.output import fail, out
from dma.cli.render import Event, Renderer, one_line
from dma.cli.stream import ENDING_TYPES, Follower, in_background

if TYPE_CHECKING:
    import anthropic  # the SDK loads in about a second: only the commands that call the API import it

CHAT_ENVIRONMENT = "dma-chat"
POLL_SECONDS = 0.2
LEAVE_WORDS = frozenset({"/exit", "/quit"})


def register(app: typer.Typer) -> None:
    """Add ``dma chat`` to the ``dma`` command."""
    app.command()(chat)


def chat(
    agent: Annotated[str | None, typer.Argument(help="Agent id or name (not needed with --session).")] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help=f"Environment id or name [default: {CHAT_ENVIRONMENT}].")
    ] = None,
    session: Annotated[str | None, typer.Option(help="Continue this session instead of starting one.")] = None,
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Chat with an agent in the terminal: streamed replies, y/n confirmations, Ctrl-C interrupts a turn."""
    with connect(api_key, base_url) as client:
        session_id = session or _start(client, agent, environment)
        _Chat(client, session_id).run()


def _start(client: anthropic.Anthropic, agent_ref: str | None, environment_ref: str | None) -> str:
    if agent_ref is None:
        fail("name an agent (dma agents list shows them), or pass --session", code=2)
    with out.status("starting a session …"):
        agent = find_agent(client, agent_ref)
        environment_id = _environment(client, environment_ref)
        created = client.beta.sessions.create(
            agent=agent.id, environment_id=environment_id, title=f"chat: {agent.name}"
        )
    out.print(f"[dim]session {created.id} · agent {escape(agent.name)} v{agent.version} · {environment_id}[/]")
    return created.id


def _environment(client: anthropic.Anthropic, ref: str | None) -> str:
    """The environment named (or with the id) ``ref``; without one, ``dma-chat``, created on first use."""
    if ref is not None and ref.startswith("env_"):
        return client.beta.environments.retrieve(ref).id
    name = ref or CHAT_ENVIRONMENT
    for environment in client.beta.environments.list(limit=100):
        if environment.name == name:
            return environment.id
    if ref is not None:
        fail(f"no environment named {ref!r}")
    return client.beta.environments.create(name=CHAT_ENVIRONMENT).id


class _Chat:
    def __init__(self, client: anthropic.Anthropic, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.renderer = Renderer(out, echo_user=False)  # the terminal shows what was typed
        self.follower = Follower(client, session_id, after=None)
        self.events = in_background(self.follower)

    def run(self) -> None:
        out.print("[dim]type a message · Ctrl-C interrupts a turn · Ctrl-D (or /exit) leaves[/]")
        try:
            while self._one_message():
                pass
        finally:
            self.follower.close()
        out.print(f"[dim]bye: the session stays; `dma sessions tail {self.session_id}` follows it[/]")

    def _one_message(self) -> bool:
        """Read one message and run its turn; False when the person leaves."""
        try:
            text = out.input("[bold cyan]you ›[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return False
        if text in LEAVE_WORDS:
            return False
        if not text:
            return True
        self._send({"type": "user.message", "content": [{"type": "text", "text": text}]})
        return self._until_idle()

    def _send(self, event: dict[str, Any]) -> None:
        self.client.beta.sessions.events.send(self.session_id, events=[event])  # pyright: ignore[reportArgumentType] - a valid event param

    def _until_idle(self) -> bool:
        """Show the turn until the session is idle for good; False when the session ended."""
        while True:
            try:
                event = self._next()
                if event is None:
                    continue
                self.renderer.show(event)
                kind = event.get("type")
                if kind in ENDING_TYPES:
                    return False
                if kind == "session.status_idle":
                    reason: dict[str, Any] = event.get("stop_reason") or {}
                    if reason.get("type") != "requires_action":
                        return True
                    self._answer(list(reason.get("event_ids") or []))
            except KeyboardInterrupt:
                self.renderer.close_line()
                out.print("[yellow]interrupting …[/]")
                self._send({"type": "user.interrupt"})

    def _next(self) -> Event | None:
        try:
            item = self.events.get(timeout=POLL_SECONDS)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def _answer(self, pending: list[str]) -> None:
        """Ask about each call that waits for a person, and send the answers."""
        for event_id in pending:
            use = self.renderer.tool_uses.get(event_id, {})
            name = str(use.get("name", "a tool"))
            if use.get("type") == "agent.custom_tool_use":
                out.print(f"[yellow]{escape(name)} is a custom tool, which dma chat cannot run; it gets an error[/]")
                self._send(_custom_tool_error(event_id))
                continue
            call = f"{escape(name)} [dim]{escape(one_line(use.get('input', {})))}[/]"
            allow = _ask_yes_no(f"[bold yellow]allow[/] {call}? [bold]\\[y/n][/] ")
            self._send(
                {"type": "user.tool_confirmation", "tool_use_id": event_id, "result": "allow" if allow else "deny"}
            )


def _ask_yes_no(prompt: str) -> bool:
    while True:
        answer = out.input(prompt).strip().lower()
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")
        out.print("[dim]answer y (allow) or n (deny); Ctrl-C interrupts the turn[/]")


def _custom_tool_error(event_id: str) -> dict[str, Any]:
    text = "dma chat cannot run custom tools; no result"
    return {
        "type": "user.custom_tool_result",
        "custom_tool_use_id": event_id,
        "content": [{"type": "text", "text": text}],
        "is_error": True,
    }
