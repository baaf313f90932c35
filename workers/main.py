"""The worker composition root: builds clients, registers ``SessionWorkflow`` and its activities, and runs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.deployments import DeploymentActivities
from activities.events import EventWriter
from activities.mcp.activities import McpActivities
from activities.mcp.builtin import BuiltinServers
from activities.mcp.catalog import McpCatalog
from activities.model.providers import ModelClients
from activities.model.step import ModelActivities
from activities.sandboxes.egress import ControlPlane, EgressOptions, EgressService, Mirrors, VaultCredentials
from activities.sandboxes.manager import SandboxManager
from activities.session_mounts import SessionMounts
from activities.tools.activities import ToolActivities
from activities.turns import TurnActivities
from activities.wakeups import WakeupActivities
from api.redelivery import Reconciler
from dma.bus import Bus
from dma.bus_factory import make_bus
from dma.catalog.catalog import ModelCatalog
from dma.crypto import Keyring
from dma.heap import freeze_startup_heap
from dma.settings import WorkerSettings
from dma.storage import make_storage
from dma.store.engine import Database
from dma.temporal import connect_client
from dma.wakeups import WakeupLimits, Wakeups
from workflows.credential_probe import CredentialProbeWorkflow
from workflows.deployment_fire import DeploymentFireWorkflow
from workflows.session import SessionWorkflow
from workflows.session_entry import SessionLaunch
from workflows.wakeup_entry import TemporalWakeups
from workflows.wakeup_fire import WakeupFireWorkflow

logger = logging.getLogger(__name__)

# Heartbeats reach the server at least this often; cancellation (user.interrupt) rides on their responses, so this
# bounds interrupt latency.
MAX_HEARTBEAT_THROTTLE = timedelta(milliseconds=400)


ActivityImpl = Callable[..., Any]


WORKFLOWS = [SessionWorkflow, CredentialProbeWorkflow, DeploymentFireWorkflow, WakeupFireWorkflow]

# Modules the sandbox shares with every workflow run instead of re-importing them for each run. pydantic and the
# boundary types: deterministic, and costly to re-import (measured: 507 -> 186 KiB per cached workflow).
# ``SessionWorkflow``'s own modules: every new session's run (and every run after continue-as-new or a cache eviction)
# re-imported them, 4.6 ms and 157 KiB a run (11.7 ms where no bytecode cache is written); shared, 0.3 ms and 13 KiB
# (docs/performance.md "Seventh pass"). Shared, they are no longer checked by the sandbox at run time; tests check
# them instead: the workflow tests and the replay test run ``SessionWorkflow`` in the default sandbox, and
# ``tests/workflows/test_sandbox_passthrough.py`` keeps these modules free of mutable state and this list whole.
BOUNDARY_MODULES = ("pydantic", "pydantic_core", "workflows.contracts", "workflows.declarations")
SESSION_WORKFLOW_MODULES = (
    "workflows.session",
    "workflows.session_ledger",
    "workflows.session_state",
    "workflows.session_tools",
    "workflows.session_wakeups",
)
WORKER_SANDBOX = SandboxRestrictions.default.with_passthrough_modules(*BOUNDARY_MODULES, *SESSION_WORKFLOW_MODULES)


@dataclass(frozen=True)
class SharedActivities:
    """The activity objects the shared queue runs."""

    model: ModelActivities
    turns: TurnActivities
    tools: ToolActivities
    mcp: McpActivities
    deployments: DeploymentActivities
    wakeups: WakeupActivities


def shared_activities(shared: SharedActivities) -> list[ActivityImpl]:
    """What the shared queue runs: the model, bookkeeping, provisioning, sandbox-free tools, MCP, schedule fires."""
    model, turns, tools = shared.model, shared.turns, shared.tools
    return [
        turns.begin_run,
        model.model_step,
        turns.finish_turn,
        turns.resume_turn,
        turns.acknowledge_events,
        turns.record_tool_results,
        turns.note_sandbox_reset,
        tools.provision_sandbox,
        tools.run_tool,
        shared.mcp.run_mcp_tool,
        shared.mcp.probe_credential,
        shared.deployments.fire_deployment,
        shared.wakeups.fire_wakeup,
    ]


def host_activities(tools: ToolActivities) -> list[ActivityImpl]:
    """What this host's own queue runs: the calls that need one of its sandboxes."""
    return [tools.run_tool, tools.destroy_sandbox]


def build_workers(client: Client, settings: WorkerSettings, activities: SharedActivities) -> list[Worker]:
    """The shared session queue, and this host's own queue for the tools that run in its sandboxes."""
    common = {
        "max_heartbeat_throttle_interval": MAX_HEARTBEAT_THROTTLE,
        "default_heartbeat_throttle_interval": MAX_HEARTBEAT_THROTTLE,
    }
    shared = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=shared_activities(activities),
        max_concurrent_activities=settings.max_concurrent_activities,
        # The model step runs as a local activity (workflows.session.LOCAL_MODEL_STEP): as many slots as task ones.
        max_concurrent_local_activities=settings.max_concurrent_activities,
        workflow_runner=SandboxedWorkflowRunner(restrictions=WORKER_SANDBOX),
        **common,  # pyright: ignore[reportArgumentType] - both values are timedeltas
    )
    host = Worker(
        client,
        task_queue=activities.tools.task_queue,
        activities=host_activities(activities.tools),
        max_concurrent_activities=settings.max_concurrent_activities,
        **common,  # pyright: ignore[reportArgumentType] - both values are timedeltas
    )
    return [shared, host]


def control_plane_addresses(settings: WorkerSettings) -> list[tuple[str, int]]:
    """The ``(host, port)`` of Temporal, a PostgreSQL database and the configured extras: never sandbox destinations."""
    addresses: list[tuple[str, int]] = []
    for endpoint in [settings.temporal_address, *settings.control_plane_endpoints]:
        host, _, port = endpoint.rpartition(":")
        if host and port.isdigit():
            addresses.append((host.strip("[]"), int(port)))
    url = make_url(settings.resolved_database_url())
    if url.host:
        addresses.append((url.host, url.port or 5432))
    return addresses


async def egress_options(settings: WorkerSettings) -> EgressOptions:
    """How this worker's sandboxes reach the network: the host's resolver and its settings' mirrors."""
    control_plane = await asyncio.to_thread(ControlPlane.resolve, control_plane_addresses(settings))
    mirrors = Mirrors(settings.pip_index_url, settings.npm_registry_url)
    return EgressOptions(control_plane=control_plane, mirrors=mirrors)


def with_vaults(options: EgressOptions, db: Database, keyring: Keyring) -> EgressOptions:
    """``options`` with the vault store as the credential source, unless they bring a source of their own."""
    if options.credentials is not None:
        return options
    return dataclasses.replace(options, credentials=VaultCredentials(db, keyring))


@asynccontextmanager
async def running_worker(
    settings: WorkerSettings,
    *,
    client: Client | None = None,
    db: Database | None = None,
    bus: Bus | None = None,
    reconcile: bool = True,
    egress: EgressOptions | None = None,
) -> AsyncGenerator[list[Worker], None]:
    """Run a worker for the duration of the block (used by ``dma worker``, ``dma dev`` and tests).

    ``reconcile`` runs the redelivery reconciler beside the worker (off where an API in the same process runs one).
    ``egress`` replaces the sandboxes' network options built from ``settings`` (tests bring their own network).

    Raises:
        SecretKeyError: without ``DMA_SECRET_KEY`` (MCP calls open vault secrets with it), before anything starts.
    """
    keyring = settings.keyring()
    own_db = db or Database.connect(settings.resolved_database_url())
    own_bus = bus or make_bus(own_db.url, settings.data_dir, listen=False, interrupts=True)
    if bus is None:
        await own_bus.start()
    temporal = client or await connect_client(settings.temporal_address, settings.temporal_namespace)
    catalog = ModelCatalog.load(settings.providers_file)
    clients = ModelClients(settings)
    manager = SandboxManager(
        settings.data_dir,
        backend=settings.sandbox_backend,
        idle_timeout=settings.sandbox_idle_seconds,
        docker_image=settings.sandbox_image,
        egress=EgressService(with_vaults(egress or await egress_options(settings), own_db, keyring)),
    )
    storage = make_storage(settings)
    launch = SessionLaunch(
        settings.task_queue,
        settings.continue_as_new_after_turns,
        settings.model_max_attempts,
        mcp_max_attempts=settings.mcp_max_attempts,
    )
    wakeups = Wakeups(own_db, TemporalWakeups(temporal, launch), WakeupLimits.of(settings))
    mcp = McpActivities(own_db, own_bus, keyring, BuiltinServers.of(wakeups))
    mcp_catalog = McpCatalog(own_db, EventWriter(own_db, own_bus), mcp.resolver, mcp.builtin)
    model = ModelActivities(
        own_db, own_bus, clients, catalog, settings.model_max_tokens, mcp=mcp_catalog, storage=storage
    )
    turns = TurnActivities(own_db, own_bus)
    mounts = SessionMounts(own_db, storage, manager, settings.github_base_url)
    tools = ToolActivities(own_db, own_bus, manager, settings, host_id=settings.resolved_host_name(), mounts=mounts)
    shared = SharedActivities(
        model,
        turns,
        tools,
        mcp,
        DeploymentActivities(own_db, own_bus, temporal, launch),
        WakeupActivities(own_db, own_bus, temporal, launch),
    )
    workers = build_workers(temporal, settings, shared)
    reaper = tools.start_reaper()
    reconciler = Reconciler(own_db, temporal, settings).start() if reconcile else None
    try:
        async with workers[0], workers[1]:
            yield workers
    finally:
        reaper.cancel()
        if reconciler is not None:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
        await manager.close()
        await clients.close()
        await storage.close()
        if bus is None:
            await own_bus.close()
        if db is None:
            await own_db.dispose()


async def serve(settings: WorkerSettings) -> None:
    """Run until cancelled (Ctrl-C / SIGTERM)."""
    async with running_worker(settings):
        freeze_startup_heap()
        logger.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
        await asyncio.Event().wait()
