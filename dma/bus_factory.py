"""Picks the bus that reaches every process sharing this database."""

from __future__ import annotations

from pathlib import Path

from dma.bus import Bus, LocalBus


def make_bus(database_url: str, data_dir: Path) -> Bus:  # noqa: ARG001 - data_dir is for the SQLite cross-process bus
    """PostgreSQL gets LISTEN/NOTIFY across processes; SQLite a process-local bus (readers also poll the DB)."""
    if database_url.startswith("postgresql"):
        from dma.bus_pg import PgBus

        return PgBus(database_url)
    return LocalBus()
