"""A session's events as a person reads them in a terminal: who said what, tools and their results, status changes.

Token deltas (``event_start`` / ``event_delta``) are printed as they arrive; the persisted ``agent.message`` that
follows then only completes the line (deltas are best effort, so whatever they missed is printed then).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from rich.console import Console
from rich.markup import escape

Event = dict[str, Any]
RESULT_LINES = 6
# Bookkeeping a person does not need to read (``--all`` shows it).
QUIET_TYPES = frozenset({"span.model_request_start", "span.model_request_end", "session.updated"})


def ago(stamp: datetime | str | None) -> str:
    """``3m ago``-style age of a timestamp."""
    if stamp is None:
        return "—"
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if isinstance(stamp, str) else stamp
    seconds = max(0, int((datetime.now(UTC) - when.astimezone(UTC)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def text_of(blocks: object) -> str:
    """The text of a content array (other blocks become a short placeholder)."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        return ""
    parts: list[str] = []
    for block in cast(list[object], blocks):
        if isinstance(block, dict):
            item = cast(dict[str, Any], block)
            parts.append(str(item.get("text", "")) if item.get("type") == "text" else f"[{item.get('type')}]")
    return "".join(parts)


def one_line(value: object, limit: int = 160) -> str:
    """Compact JSON of a tool input, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Renderer:
    """Prints events in order; remembers tool calls (for confirmations) and the reply being streamed.

    Previews and persisted events interleave (the user message a turn starts with may be read after the reply's
    first delta), so the streamed reply owns the current line only until another event is printed; its next delta
    starts a fresh ``agent ›`` line with the text so far.
    """

    def __init__(self, console: Console, *, show_all: bool = False, echo_user: bool = True) -> None:
        self.console = console
        self.show_all = show_all
        self.echo_user = echo_user
        self.tool_uses: dict[str, Event] = {}
        self._preview_id: str | None = None
        self._preview_text = ""
        self._line_open = False

    def show(self, event: Event) -> None:
        """Print one event (or delta)."""
        kind = str(event.get("type", ""))
        if kind == "event_start":
            target = cast(Event, event.get("event") or {})
            if target.get("type") == "agent.message":
                self.close_line()
                self._preview_id, self._preview_text = str(target.get("id")), ""
        elif kind == "event_delta":
            self._delta(event)
        elif kind != "ping":
            self._persisted(kind, event)

    def _delta(self, event: Event) -> None:
        if event.get("event_id") != self._preview_id:
            return
        content = cast(Event, cast(Event, event.get("delta") or {}).get("content") or {})
        piece = str(content.get("text", ""))
        if not piece:
            return
        if not self._line_open:
            self.console.print("[bold green]agent ›[/] " + escape(self._preview_text), end="")
            self._line_open = True
        self._preview_text += piece
        self.console.print(escape(piece), end="")
        self.console.file.flush()

    def _complete_preview(self, full: str) -> bool:
        """Print what the deltas missed of the reply; False when it must be printed whole."""
        shown = self._preview_text
        if not shown or not full.startswith(shown):
            return False
        rest = full[len(shown) :]
        if self._line_open:
            self.console.print(escape(rest))
            self._line_open = False
        elif rest:
            self.console.print("[bold green]agent ›[/] …" + escape(rest))
        return True

    def close_line(self) -> None:
        """End the streamed reply's line, if it is open (before printing anything else)."""
        if self._line_open:
            self.console.print()
            self._line_open = False

    def _persisted(self, kind: str, event: Event) -> None:
        if kind == "agent.message" and event.get("id") == self._preview_id:
            self._preview_id = None
            if self._complete_preview(text_of(event.get("content"))):
                return
        self.close_line()
        if (kind in QUIET_TYPES and not self.show_all) or (kind == "user.message" and not self.echo_user):
            return
        line = self.describe(kind, event)
        if line is not None:
            self.console.print(line)

    def describe(self, kind: str, event: Event) -> str | None:
        """The markup line for a persisted event, or None to print nothing."""
        if kind == "user.message":
            return f"[bold cyan]you ›[/] {escape(text_of(event.get('content')))}"
        if kind == "agent.message":
            return f"[bold green]agent ›[/] {escape(text_of(event.get('content')))}"
        if kind == "agent.thinking":
            return f"[dim italic]thinking … {escape(text_of(event.get('content')))}[/]"
        if kind in ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"):
            return self._tool_use(kind, event)
        if kind in ("agent.tool_result", "agent.mcp_tool_result"):
            return self._tool_result(event)
        return self._status(kind, event)

    def _tool_use(self, kind: str, event: Event) -> str:
        self.tool_uses[str(event.get("id"))] = event
        permission = event.get("evaluated_permission")
        note = {"ask": " [yellow](needs your confirmation)[/]", "deny": " [red](denied by policy)[/]"}.get(
            str(permission), ""
        )
        where = " [dim](your client runs it)[/]" if kind == "agent.custom_tool_use" else ""
        name = escape(str(event.get("name", "?")))
        return f"[yellow]⚙ {name}[/] [dim]{escape(one_line(event.get('input', {})))}[/]{note}{where}"

    def _tool_result(self, event: Event) -> str:
        lines = text_of(event.get("content")).splitlines() or ["(no output)"]
        shown = lines[:RESULT_LINES] + (
            [f"… {len(lines) - RESULT_LINES} more lines"] if len(lines) > RESULT_LINES else []
        )
        style = "red" if event.get("is_error") else "dim"
        body = "\n    ".join(escape(line) for line in shown)
        return f"[{style}]  ↳ {body}[/]"

    def _status(self, kind: str, event: Event) -> str | None:
        if kind == "session.status_running":
            return "[dim]● running[/]"
        if kind == "session.status_idle":
            reason = cast(Event, event.get("stop_reason") or {})
            if reason.get("type") == "requires_action":
                return "[yellow]○ waiting for you[/]"
            return f"[dim]○ idle ({escape(str(reason.get('type', 'end_turn')))})[/]"
        if kind == "session.status_rescheduled":
            return "[yellow]↻ rescheduled: retrying[/]"
        if kind in ("session.status_terminated", "session.deleted"):
            return f"[bold red]■ {kind.removeprefix('session.')}[/]"
        if kind == "session.error":
            error = cast(Event, event.get("error") or {})
            return f"[red]error: {escape(str(error.get('message', error.get('type', '?'))))}[/]"
        if kind == "session.usage":
            return f"[dim]{usage_line(event)}[/]"
        return self._user_control(kind, event)

    def _user_control(self, kind: str, event: Event) -> str | None:
        if kind == "user.interrupt":
            return "[dim]⏹ interrupted[/]"
        if kind == "user.tool_confirmation":
            use = self.tool_uses.get(str(event.get("tool_use_id")), {})
            name = escape(str(use.get("name", "tool call")))
            return f"[dim]✓ allowed {name}[/]" if event.get("result") == "allow" else f"[dim]✗ denied {name}[/]"
        if kind == "user.custom_tool_result":
            return "[dim]↳ custom tool result sent[/]"
        return f"[dim]{escape(kind)}[/]" if self.show_all else None


def usage_line(usage: Event) -> str:
    """Tokens in and out, as one line."""
    source = cast(Event, usage.get("usage") or usage)
    return f"usage: {source.get('input_tokens', 0) or 0} in · {source.get('output_tokens', 0) or 0} out tokens"
