"""Assembles the FastAPI app: lifespan-owned clients, routers and the error handlers (STYLE.md §4)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import errors
from api.auth import require_api_key
from api.deps import AppState
from api.guards import MULTIPART_SLACK, RequestGuard
from api.redelivery import Reconciler
from api.routes import (
    agents,
    api_keys,
    console,
    credentials,
    deployment_runs,
    deployments,
    environments,
    events,
    files,
    memories,
    memory_stores,
    memory_versions,
    session_resources,
    sessions,
    skills,
    vaults,
    wakeups,
)
from dma import __version__
from dma.bus import Bus
from dma.catalog.catalog import ModelCatalog
from dma.settings import ApiSettings
from dma.storage import make_storage
from dma.store.engine import Database
from dma.temporal import connect_client


class RequestIdMiddleware:
    """Gives every request a ``request-id`` (header and ``request.state``); pure ASGI so SSE is not buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"request-id"]
                message["headers"] = [*headers, (b"request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(
    settings: ApiSettings,
    *,
    db: Database | None = None,
    temporal: Client | None = None,
    bus: Bus | None = None,
) -> FastAPI:
    """Build the app. Parts passed in (tests, ``dma dev``) are shared and not closed by the app.

    Startup fails (``SecretKeyError``) without ``DMA_SECRET_KEY``: the API seals the secrets clients write.

    Raises:
        ProvidersFileError: when ``settings.providers_file`` is unreadable or invalid (the API does not start).
    """
    catalog = ModelCatalog.load(settings.providers_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        from dma.bus_factory import make_bus

        keyring = settings.keyring()
        own_db = db or Database.connect(settings.resolved_database_url())
        own_bus = bus or make_bus(own_db.url, settings.data_dir, listen=True)
        if bus is None:
            await own_bus.start()
        client = temporal or await connect_client(settings.temporal_address, settings.temporal_namespace)
        storage = make_storage(settings)
        app.state.dma = AppState(
            settings=settings,
            db=own_db,
            temporal=client,
            bus=own_bus,
            keyring=keyring,
            storage=storage,
            catalog=catalog,
        )
        reconciler = Reconciler(own_db, client, settings).start()
        try:
            yield
        finally:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await storage.close()
            await app.state.dma.streams.close()
            if bus is None:
                await own_bus.close()
            if db is None:
                await own_db.dispose()

    app = FastAPI(
        title="dma — Durable Managed Agents",
        version=__version__,
        lifespan=lifespan,
        description="A self-hosted implementation of the Claude Managed Agents API on Temporal.",
    )
    # Starlette runs the last-added middleware first: request ids are assigned before the guard may reject.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes(),
        max_multipart_bytes=max(settings.max_upload_bytes, settings.max_skill_bytes) + MULTIPART_SLACK,
    )
    app.add_middleware(RequestIdMiddleware)
    errors.install(app)
    authed = [Depends(require_api_key)]
    routers = (
        agents,
        environments,
        sessions,
        session_resources,
        events,
        files,
        memory_stores,
        memories,
        memory_versions,
        skills,
        vaults,
        credentials,
        wakeups,
        deployments,
        deployment_runs,
        api_keys,
    )
    for router in [*(module.router for module in routers), console.info]:
        app.include_router(router, dependencies=authed)
    # The console's static files need no key: they hold no secret, and the app asks the person for one.
    app.include_router(console.pages)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:  # pyright: ignore[reportUnusedFunction]
        """Liveness probe (no key needed)."""
        return {"status": "ok"}

    return app
