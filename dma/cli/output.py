"""Where the CLI writes: ``out`` for results, ``err`` for progress and errors (both ``rich`` consoles).

Results go to stdout so they can be piped; spinners, notes and errors go to stderr. Colour is on for terminals and
off for pipes (``NO_COLOR`` and ``FORCE_COLOR`` are honoured by ``rich``).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# A pipe has no width; tables then get room for full ids instead of rich's 80 columns.
PIPE_WIDTH = 160
out = Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
err = Console(
    stderr=True, highlight=False, emoji=False, soft_wrap=True, width=None if sys.stderr.isatty() else PIPE_WIDTH
)


def lines(*texts: str) -> None:
    """Plain lines on stdout, byte for byte (tab-separated output stays tab-separated for scripts)."""
    sys.stdout.write("".join(text + "\n" for text in texts))
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error and leave with ``code``."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def table(*columns: str) -> Table:
    """A borderless table; the first column (ids, which people copy) never wraps or shortens."""
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for index, column in enumerate(columns):
        grid.add_column(column, no_wrap=index == 0, min_width=len(column), overflow="fold")
    return grid
