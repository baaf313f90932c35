"""The worker composition root: builds clients, registers ``SessionWorkflow`` and its activities, and runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.model.providers import ModelClients
from activities.model.step import ModelActivities
from activities.turns import TurnActivities
from dma.bus import Bus
from dma.bus_factory import make_bus
from dma.settings import WorkerSettings
from dma.store.engine import Database
from dma.temporal import connect_client
from workflows.session import SessionWorkflow

logger = logging.getLogger(__name__)

# Heartbeats reach the server at least this often; cancellation (user.interrupt) rides on their responses, so this
# bounds interrupt latency.
MAX_HEARTBEAT_THROTTLE = timedelta(milliseconds=400)


def build_worker(client: Client, settings: WorkerSettings, db: Database, bus: Bus, clients: ModelClients) -> Worker:
    """A worker serving the session task queue."""
    model = ModelActivities(db, bus, clients, settings.model_max_tokens)
    turns = TurnActivities(db, bus)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[SessionWorkflow],
        activities=[
            model.model_step,
            turns.finish_turn,
            turns.resume_turn,
            turns.acknowledge_events,
            turns.record_tool_results,
        ],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_heartbeat_throttle_interval=MAX_HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval=MAX_HEARTBEAT_THROTTLE,
        # pydantic is deterministic and heavy to re-import per workflow run; share it with the sandbox.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("pydantic", "pydantic_core")
        ),
    )


@asynccontextmanager
async def running_worker(
    settings: WorkerSettings, *, client: Client | None = None, db: Database | None = None, bus: Bus | None = None
) -> AsyncGenerator[Worker, None]:
    """Run a worker for the duration of the block (used by ``dma worker``, ``dma dev`` and tests)."""
    own_db = db or Database.connect(settings.resolved_database_url())
    own_bus = bus or make_bus(own_db.url, settings.data_dir)
    if bus is None:
        await own_bus.start()
    temporal = client or await connect_client(settings.temporal_address, settings.temporal_namespace)
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    clients = ModelClients(key, settings.anthropic_base_url)
    worker = build_worker(temporal, settings, own_db, own_bus, clients)
    try:
        async with worker:
            yield worker
    finally:
        await clients.close()
        if bus is None:
            await own_bus.close()
        if db is None:
            await own_db.dispose()


async def serve(settings: WorkerSettings) -> None:
    """Run until cancelled (Ctrl-C / SIGTERM)."""
    async with running_worker(settings):
        logger.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
        await asyncio.Event().wait()
