"""Launching a deployment: one fire, scheduled or manual, becomes a session with its initial events and a run record.

Everything happens in the caller's write transaction, with the deployment row locked: the session row, its initial
events (queued, ``processed_at`` null, as the API stores client events) and the run commit together, or nothing does.
Delivering the events to the session's workflow is the caller's next step. A scheduled fire is keyed by its cron
time: a retried or re-run fire finds the run it recorded and delivers the same event ids again (the workflow drops
ids it has already taken). A fire whose session cannot be made records a run with the typed error instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from dma.clock import utcnow
from dma.ids import event_id, new_id
from dma.schemas.agents import session_agent_snapshot
from dma.schemas.common import NotFoundError, SchemaError
from dma.store import agents as agent_store
from dma.store import deployments as store
from dma.store import events as log
from dma.store import session_resources as resource_store
from dma.store import sessions as session_store
from dma.store.events import NewEvent
from dma.store.tables import Deployment, DeploymentRun, Environment, Session, SessionResource, Vault

Trigger = Literal["schedule", "manual"]
# Run errors that pause a deployment when a scheduled fire records them: every error the deployment's own
# configuration causes (the SDK's paused-reason union); a rate limit or a rejected request does not.
PAUSING_ERRORS = frozenset(
    {
        "agent_archived_error",
        "environment_archived_error",
        "environment_not_found_error",
        "file_not_found_error",
        "memory_store_archived_error",
        "session_resource_not_found_error",
        "vault_archived_error",
        "vault_not_found_error",
        "unknown_error",
    }
)
# Initial events that a fire delivers as messages (each one starts or joins the first turn).
MESSAGE_TYPES = ("user.message", "system.message")
MAX_INITIAL_EVENTS = 50


@dataclass(frozen=True)
class Launched:
    """A fire's outcome: its run, and its session with the ids of the events to deliver (none on error)."""

    run: DeploymentRun
    session: Session | None = None
    message_ids: list[str] = field(default_factory=list[str])
    recorded_now: bool = True


class FireFailed(Exception):
    """The deployment's session cannot be created; ``error_type`` is the run error's type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def initial_event_ids(run_id: str, count: int) -> list[str]:
    """The ids of a run's initial events: derived from the run, so a re-delivery names the same events."""
    return [event_id(run_id, "initial", 0, str(index)) for index in range(count)]


async def _environment(db: AsyncSession, deployment: Deployment) -> Environment:
    row = await db.get(Environment, deployment.environment_id)
    if row is None:
        raise FireFailed("environment_not_found_error", f"environment {deployment.environment_id!r} no longer exists")
    if row.archived_at is not None:
        raise FireFailed("environment_archived_error", f"environment {deployment.environment_id!r} is archived")
    return row


async def _resources(db: AsyncSession, deployment: Deployment, session_id: str) -> list[SessionResource]:
    """The new session's resource rows, built from the deployment's.

    They were checked at create, but a file or store may since have gone or been archived: the run error names it.
    """
    rows: list[SessionResource] = []
    for item in resource_store.parse_configs(deployment.resources or []):
        try:
            rows.extend(await resource_store.build(db, session_id, [item]))
        except NotFoundError as missing:
            kind = "file_not_found_error" if item.type == "file" else "session_resource_not_found_error"
            raise FireFailed(kind, missing.message) from None
        except SchemaError as refused:
            kind = "memory_store_archived_error" if item.type == "memory_store" else "unknown_error"
            raise FireFailed(kind, refused.message) from None
    return rows


async def _vaults(db: AsyncSession, deployment: Deployment) -> list[str]:
    """The deployment's vaults as its session takes them; one deleted or archived since fails the fire."""
    vault_ids = list(deployment.vault_ids or [])
    for vault_id in vault_ids:
        row = await db.get(Vault, vault_id)
        if row is None:
            raise FireFailed("vault_not_found_error", f"vault {vault_id!r} no longer exists")
        if row.archived_at is not None:
            raise FireFailed("vault_archived_error", f"vault {vault_id!r} is archived")
    return vault_ids


async def _session(db: AsyncSession, deployment: Deployment) -> tuple[Session, list[SessionResource]]:
    """A new session row for the deployment's agent version and environment, and its resource rows (not stored)."""
    agent = await agent_store.get_agent_for_session(db, deployment.agent_id, deployment.agent_version)
    if agent is None:
        raise FireFailed(
            "unknown_error", f"agent {deployment.agent_id!r} version {deployment.agent_version} no longer exists"
        )
    if agent.get("archived_at"):
        raise FireFailed("agent_archived_error", f"agent {deployment.agent_id!r} is archived")
    environment = await _environment(db, deployment)
    snapshot = session_agent_snapshot(agent, await agent_store.load_roster(db, agent))
    new = session_store.NewSession(
        title=deployment.name,
        budget=deployment.budget,
        running=True,
        deployment_id=deployment.id,
        vault_ids=await _vaults(db, deployment),
    )
    session = session_store.new_row(deployment.agent_id, deployment.agent_version, snapshot, environment, new)
    return session, await _resources(db, deployment, session.id)


async def _existing(db: AsyncSession, run: DeploymentRun) -> Launched:
    """A fire recorded before (a retry): its session and the ids of the initial events it stored."""
    session = await session_store.get(db, run.session_id) if run.session_id is not None else None
    if session is None:
        return Launched(run, recorded_now=False)
    ids = initial_event_ids(run.id, MAX_INITIAL_EVENTS)
    stored = await log.by_ids(db, session.id, ids)
    messages = [ident for ident in ids if ident in stored and stored[ident].type in MESSAGE_TYPES]
    return Launched(run, session, messages, recorded_now=False)


async def launch(
    db: AsyncSession, deployment: Deployment, trigger: Trigger, scheduled_at: datetime | None = None
) -> Launched:
    """Record one fire of ``deployment`` (locked by the caller): a session and its queued events, or an error."""
    if scheduled_at is not None:
        found = await store.scheduled_run(db, deployment.id, scheduled_at)
        if found is not None:
            return await _existing(db, found)
    run = DeploymentRun(
        id=new_id("drun"),
        deployment_id=deployment.id,
        agent_id=deployment.agent_id,
        agent_version=deployment.agent_version,
        trigger_type=trigger,
        scheduled_at=scheduled_at,
        created_at=utcnow(),
    )
    try:
        session, resources = await _session(db, deployment)
    except FireFailed as failed:
        run.error = {"type": failed.error_type, "message": failed.message}
        db.add(run)
        await db.flush()
        return Launched(run)
    await session_store.insert(db, session)
    await resource_store.insert(db, session, resources)
    ids = initial_event_ids(run.id, len(deployment.initial_events))
    queued = [
        NewEvent(ident, str(event["type"]), {k: v for k, v in event.items() if k != "type"})
        for ident, event in zip(ids, deployment.initial_events, strict=True)
    ]
    await log.insert_user_events(db, session.id, queued)
    run.session_id = session.id
    db.add(run)
    await db.flush()
    return Launched(run, session, [event.id for event in queued if event.type in MESSAGE_TYPES])
