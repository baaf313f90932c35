"""``dma bench``: runs ``bench/`` of the source checkout, which the installed package does not contain."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from dma.cli.output import fail

# Modules of the ``bench`` extra: ``dma bench`` names the extra when one is missing.
BENCH_EXTRA_MODULES = frozenset({"psutil"})
# Every argument, ``--help`` included, belongs to the benchmark's own parser.
PASS_THROUGH: dict[str, object] = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    """Add ``dma bench`` to the ``dma`` command."""
    app.command(context_settings=PASS_THROUGH, add_help_option=False)(bench)


def bench(context: typer.Context) -> None:
    """Measure latency, throughput and idle cost (its options: dma bench --help)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").is_file():
        fail(f"dma bench needs a source checkout: no bench/ in {root}", code=2)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("bench.__main__")
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in BENCH_EXTRA_MODULES:
            raise
        fail(f"dma bench needs the bench extra ({error.name} is missing): pip install 'dma[bench]'", code=2)
    raise typer.Exit(int(module.main(list(context.args))))
