"""The ``fire_deployment`` activity: one scheduled fire of a deployment becomes a session and a run (DESIGN.md §7).

Exactly one run per (deployment, cron time): the run, its session and the queued initial events commit in one
transaction keyed by ``scheduled_at`` under a unique constraint, and a retried attempt (a worker killed mid-fire, a
timed-out attempt still running) finds that run and only delivers its events again; the session's workflow drops ids
it has already taken. A fire whose session cannot be made records the typed error and pauses the deployment.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from dma.bus import Bus, BusMessage
from dma.clock import utcnow
from dma.store import deployments as store
from dma.store import launch as launcher
from dma.store.engine import Database
from dma.store.launch import PAUSING_ERRORS, Launched
from dma.store.tables import Deployment
from workflows import schedule_entry, session_entry
from workflows.contracts import Delivery, FireDeploymentReply, FireDeploymentRequest
from workflows.declarations import FIRE_DEPLOYMENT
from workflows.session_entry import SessionLaunch


def _pause(row: Deployment, error_type: str) -> None:
    """The SDK's auto-pause: the failed run's error becomes the paused reason."""
    row.status = "paused"
    row.paused_reason = {"type": "error", "error": {"type": error_type}}
    row.updated_at = utcnow()


class DeploymentActivities:
    """Fires deployments; the worker builds one instance with its DB, bus and Temporal client."""

    def __init__(self, db: Database, bus: Bus, temporal: Client, launch: SessionLaunch) -> None:
        self._db = db
        self._bus = bus
        self._temporal = temporal
        self._launch = launch

    @FIRE_DEPLOYMENT.implement
    async def fire_deployment(self, request: FireDeploymentRequest) -> FireDeploymentReply:
        """Record the fire (or find it recorded), deliver its initial events, pause the deployment on an error."""
        async with heartbeating():
            recorded = await self._record(request)
            if recorded is None:
                return FireDeploymentReply()
            launched, paused_by_error = recorded
            run = launched.run
            if launched.session is not None and launched.message_ids:
                delivery = Delivery(message_ids=launched.message_ids)
                await session_entry.deliver(self._temporal, self._launch, launched.session, delivery)
                self._bus.publish(BusMessage(launched.session.id, "doorbell"))
            error_type = str(run.error["type"]) if run.error else None
            if paused_by_error:
                note = f"paused by dma: a fire failed with {error_type}"
                await schedule_entry.set_paused(self._temporal, request.deployment_id, True, note)
            return FireDeploymentReply(run_id=run.id, session_id=run.session_id, error_type=error_type)

    async def _record(self, request: FireDeploymentRequest) -> tuple[Launched, bool] | None:
        """The fire's run, recorded now or by an earlier attempt, and whether an error keeps the deployment paused.

        None when the deployment no longer fires (archived, paused, or gone).
        """
        try:
            async with self._db.write() as db:
                row = await store.lock(db, request.deployment_id)
                if row is None:
                    # A schedule whose row never committed (the API failed mid-create): nothing to fire.
                    activity.logger.warning("deployment %s has no row; fire skipped", request.deployment_id)
                    return None
                found = await store.scheduled_run(db, row.id, request.scheduled_at)
                if found is None and (row.archived_at is not None or row.status == "paused"):
                    return None
                launched = await launcher.launch(db, row, "schedule", request.scheduled_at)
                error = launched.run.error
                if launched.recorded_now and error and error.get("type") in PAUSING_ERRORS:
                    _pause(row, str(error["type"]))
                    db.add(row)
                # A retry pauses the schedule again only while the row still says so (no unpause came between).
                reason = row.paused_reason or {}
                return launched, row.status == "paused" and reason.get("type") == "error"
        except IntegrityError as err:
            # Another attempt recorded this fire first; the next attempt finds its run.
            raise ApplicationError("the fire was recorded concurrently; retrying", type="fire_race") from err
