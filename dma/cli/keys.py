"""``dma keys``: API keys stored hashed in the database (an operator verb: it talks to the database, not the API).

Add a verb with ``@keys.command()`` below; ``register`` mounts the group on ``dma``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dma.cli.output import fail, lines
from dma.settings import CommonSettings

if TYPE_CHECKING:
    from dma.store.engine import Database

T = TypeVar("T")
keys = typer.Typer(
    help="API keys stored (hashed) in the database, and the secret key that seals vault secrets.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``dma keys`` to the ``dma`` command."""
    app.add_typer(keys, name="keys")


def with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database (``DMA_DATABASE_URL`` or the data dir's SQLite file)."""
    from dma.store.engine import Database

    async def run() -> T:
        db = Database.connect(CommonSettings().resolved_database_url())
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@keys.command()
def create(name: Annotated[str, typer.Option(help="A label for the new key.")] = "") -> None:
    """Create a key; it is shown only now (the database keeps its hash)."""
    from dma.store import api_keys

    row, key = with_database(lambda db: api_keys.create(db, name))
    lines(f"{row.id}\t{key}", "(the key is shown only now; it is stored hashed)")


@keys.command("list")
def list_keys() -> None:
    """List the keys (ids and names, never the keys)."""
    from dma.store import api_keys

    for row in with_database(api_keys.list_keys):
        state = "revoked" if row.revoked_at else "active"
        lines(f"{row.id}\t{row.name}\t{state}\t{row.created_at.isoformat()}")


@keys.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (apikey_…).")]) -> None:
    """Revoke a key: requests that carry it get 401 from now on."""
    from dma.store import api_keys

    if not with_database(lambda db: api_keys.revoke(db, key_id)):
        fail(f"no API key {key_id!r}")
    lines(f"revoked {key_id}")


@keys.command("new-secret")
def new_secret() -> None:
    """Print a fresh root key for DMA_SECRET_KEY (or DMA_SECRET_KEYRING during a rotation)."""
    from dma.secret_rotation import run_cli

    raise typer.Exit(run_cli("new-secret"))


@keys.command("rotate-secret")
def rotate_secret() -> None:
    """Re-seal every vault secret under DMA_SECRET_KEY (old keys in DMA_SECRET_KEYRING); safe to run again."""
    from dma.secret_rotation import run_cli

    raise typer.Exit(run_cli("rotate-secret"))
