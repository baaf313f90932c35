"""Picks the bus that reaches every process sharing this database."""

from __future__ import annotations

from pathlib import Path

from dma.bus import Bus


def make_bus(database_url: str, data_dir: Path, *, listen: bool) -> Bus:
    """PostgreSQL gets LISTEN/NOTIFY across hosts; SQLite (one host) Unix sockets in the data dir.

    ``listen``: whether this process serves SSE readers (an API). A worker only publishes.
    """
    if database_url.startswith("postgresql"):
        from dma.bus_pg import PgBus

        return PgBus(database_url)
    from dma.bus_socket import SocketBus

    return SocketBus(data_dir, listen=listen)
