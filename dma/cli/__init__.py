"""The ``dma`` command, built with Typer: operator verbs and people verbs.

Operator verbs run dma (``dev``, ``api``, ``worker``, ``migrate``, ``keys``, ``bench``); people verbs use it through
the public API (``agents``, ``sessions``, ``chat``).

Each verb group lives in its own module with a ``register(app)`` function, listed in ``dma.cli.app.COMMANDS``: add a
verb by adding a module there. Server entrypoints (``api``, ``workers``) are imported inside the commands that run
them, so ``dma agents list`` never loads the worker.
"""

from dma.cli.app import main

__all__ = ["main"]
