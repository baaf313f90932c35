"""Picks the bus that reaches every process sharing this database."""

from __future__ import annotations

from pathlib import Path

from dma.bus import Bus


def make_bus(database_url: str, data_dir: Path, *, listen: bool, interrupts: bool = False) -> Bus:
    """PostgreSQL gets LISTEN/NOTIFY across hosts; SQLite (one host) Unix sockets in the data dir.

    ``listen``: whether this process serves SSE readers (an API); ``interrupts``: whether it runs model requests (a
    worker), which end at once on a ``user.interrupt`` sent to them over the bus.
    """
    if database_url.startswith("postgresql"):
        from dma.bus_pg import PgBus

        return PgBus(database_url)
    from dma.bus_socket import SocketBus

    return SocketBus(data_dir, listen=listen, interrupts=interrupts)
