"""What route handlers depend on, as ``Annotated`` aliases (STYLE.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from api.sse_feed import StreamHub
from dma.bus import Bus
from dma.catalog.catalog import ModelCatalog
from dma.crypto import Keyring
from dma.settings import ApiSettings
from dma.storage import BlobStore
from dma.store.engine import Database


@dataclass
class AppState:
    """Everything the app holds for its lifetime, built by the lifespan in ``api.app``."""

    settings: ApiSettings
    db: Database
    temporal: Client
    bus: Bus
    keyring: Keyring
    storage: BlobStore
    # Providers and model settings (no keys): to validate model ids and budgets.
    catalog: ModelCatalog = field(default_factory=ModelCatalog.builtin)
    # The shared log readers of the sessions that have open event streams in this process.
    streams: StreamHub = field(default_factory=StreamHub)


def get_state(request: Request) -> AppState:
    """The app's long-lived parts."""
    state: AppState = request.app.state.dma
    return state


def get_db(request: Request) -> Database:
    """The database."""
    return get_state(request).db


def get_temporal(request: Request) -> Client:
    """The Temporal client."""
    return get_state(request).temporal


def get_settings(request: Request) -> ApiSettings:
    """The API settings."""
    return get_state(request).settings


def get_bus(request: Request) -> Bus:
    """The SSE bus."""
    return get_state(request).bus


StateDep = Annotated[AppState, Depends(get_state)]
DbDep = Annotated[Database, Depends(get_db)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
BusDep = Annotated[Bus, Depends(get_bus)]
