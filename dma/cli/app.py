"""The root ``dma`` command: one Typer app that every verb module registers itself on."""

from __future__ import annotations

from collections.abc import Callable

import typer

from dma.cli import agents, bench, chat, deployments, keys, server, sessions

# Each verb module's ``register``, in the order of ``dma --help``: what runs dma, then what people do with it.
COMMANDS: tuple[Callable[[typer.Typer], None], ...] = (
    server.register,
    keys.register,
    deployments.register,
    bench.register,
    agents.register,
    sessions.register,
    chat.register,
)


def build() -> typer.Typer:
    """The ``dma`` command with every verb registered."""
    app = typer.Typer(
        name="dma",
        help="Durable Managed Agents: a self-hosted Claude Managed Agents API on Temporal.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for register in COMMANDS:
        register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dma`` console script; returns the exit code."""
    command = typer.main.get_command(build())
    try:
        command.main(args=argv, prog_name="dma")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0
