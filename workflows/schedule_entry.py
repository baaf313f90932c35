"""The Temporal Schedules behind deployments and recurring wakeups: how they are built, changed and read.

Used by the API (deployments; wakeups over REST) and by activities (a fire that auto-pauses its deployment; a wakeup
whose session is gone). A deployment's schedule id is the deployment id; a wakeup's is ``<session id>:<wakeup id>``,
so the Web UI finds either by the id a client knows, and both carry a ``DeploymentId`` / ``SessionId`` search
attribute and a memo naming them. The actions start the fire workflows by their registered names (see
``session_entry`` for why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from workflows.contracts import DeploymentFireStart, WakeupFireStart

DEPLOYMENT_FIRE_WORKFLOW = "DeploymentFireWorkflow"
WAKEUP_FIRE_WORKFLOW = "WakeupFireWorkflow"
DEPLOYMENT_ID = SearchAttributeKey.for_keyword("DeploymentId")
SESSION_ID = SearchAttributeKey.for_keyword("SessionId")
# Fires missed while Temporal itself was down are made up for this long; older ones are dropped, not piled up.
CATCHUP_WINDOW = timedelta(minutes=15)
UPCOMING = 5


@dataclass(frozen=True)
class Timing:
    """A cron schedule's computed times: the next fires (cron times, before jitter) and when the last one started."""

    upcoming: list[datetime]
    last_run_at: datetime | None


@dataclass(frozen=True)
class Recurrence:
    """When a schedule fires: a cron expression in a timezone, or a fixed interval."""

    cron: str | None = None
    timezone: str = "UTC"
    every: timedelta | None = None

    def spec(self, jitter: timedelta) -> ScheduleSpec:
        if self.cron is not None:
            return ScheduleSpec(cron_expressions=[self.cron], time_zone_name=self.timezone, jitter=jitter)
        assert self.every is not None, "a recurrence has a cron expression or an interval"
        return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=self.every)], jitter=jitter)


def wakeup_schedule_id(session_id: str, wakeup_id: str) -> str:
    """The schedule of a recurring wakeup: found in the Web UI by its session id."""
    return f"{session_id}:{wakeup_id}"


def _attributes(key: SearchAttributeKey[str], value: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(key, value)])


def _schedule(
    action: ScheduleActionStartWorkflow, recurrence: Recurrence, *, jitter: timedelta, paused: bool, note: str
) -> Schedule:
    # Every fire gets a workflow of its own (the id gets the fire time appended): fires are independent and each is
    # idempotent, so none waits for or skips because of another.
    policy = SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=CATCHUP_WINDOW)
    state = ScheduleState(paused=paused, note=note)
    return Schedule(action=action, spec=recurrence.spec(jitter), policy=policy, state=state)


def deployment_schedule(
    deployment_id: str, recurrence: Recurrence, *, task_queue: str, jitter: timedelta, paused: bool, note: str = ""
) -> Schedule:
    """The schedule of a deployment: each fire runs ``DeploymentFireWorkflow``."""
    action = ScheduleActionStartWorkflow(
        DEPLOYMENT_FIRE_WORKFLOW,
        DeploymentFireStart(deployment_id=deployment_id),
        id=f"{deployment_id}-fire",
        task_queue=task_queue,
        typed_search_attributes=_attributes(DEPLOYMENT_ID, deployment_id),
        static_summary=f"fire of deployment {deployment_id}",
    )
    return _schedule(action, recurrence, jitter=jitter, paused=paused, note=note)


def wakeup_schedule(
    session_id: str, wakeup_id: str, recurrence: Recurrence, *, task_queue: str, jitter: timedelta
) -> Schedule:
    """The schedule of a recurring wakeup: each fire runs ``WakeupFireWorkflow``."""
    action = ScheduleActionStartWorkflow(
        WAKEUP_FIRE_WORKFLOW,
        WakeupFireStart(session_id=session_id, wakeup_id=wakeup_id),
        id=f"{wakeup_schedule_id(session_id, wakeup_id)}-fire",
        task_queue=task_queue,
        typed_search_attributes=_attributes(SESSION_ID, session_id),
        static_summary=f"wakeup {wakeup_id} of session {session_id}",
    )
    return _schedule(action, recurrence, jitter=jitter, paused=False, note="")


async def put_deployment_schedule(temporal: Client, deployment_id: str, name: str, schedule: Schedule) -> None:
    """Create a deployment's schedule, or replace it whole (spec, action, paused state) if it exists.

    Raises:
        RPCError: ``INVALID_ARGUMENT`` for a spec Temporal refuses; anything else when Temporal is unavailable.
    """
    memo = {"deployment_id": deployment_id, "name": name[:200]}
    await _put(temporal, deployment_id, schedule, memo, _attributes(DEPLOYMENT_ID, deployment_id))


async def put_wakeup_schedule(temporal: Client, session_id: str, wakeup_id: str, schedule: Schedule) -> None:
    """Create a recurring wakeup's schedule (idempotent, as ``put_deployment_schedule``)."""
    memo = {"session_id": session_id, "wakeup_id": wakeup_id}
    schedule_id = wakeup_schedule_id(session_id, wakeup_id)
    await _put(temporal, schedule_id, schedule, memo, _attributes(SESSION_ID, session_id))


async def _put(
    temporal: Client, schedule_id: str, schedule: Schedule, memo: dict[str, str], attributes: TypedSearchAttributes
) -> None:
    try:
        await temporal.create_schedule(schedule_id, schedule, memo=memo, search_attributes=attributes)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await temporal.get_schedule_handle(schedule_id).update(replace)


async def set_paused(temporal: Client, schedule_id: str, paused: bool, note: str) -> bool:
    """Pause or unpause a schedule; False when it does not exist."""
    handle = temporal.get_schedule_handle(schedule_id)
    try:
        if paused:
            await handle.pause(note=note)
        else:
            await handle.unpause(note=note)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def delete_schedule(temporal: Client, schedule_id: str) -> None:
    """Delete a schedule (one already gone counts as deleted)."""
    try:
        await temporal.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


async def timing(temporal: Client, schedule_id: str, *, cron: bool = True) -> Timing | None:
    """The schedule's own next fire times and last fire; None when it does not exist.

    Temporal lists next fires with their jitter added; a cron fire is always on a whole minute and the jitter is
    kept under one, so the cron times are the listed times cut to the minute.
    """
    try:
        description = await temporal.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = description.info
    upcoming = [_minute(t) if cron else t for t in info.next_action_times][:UPCOMING]
    started = [action.started_at for action in info.recent_actions]
    return Timing(upcoming=upcoming, last_run_at=max(started) if started else None)
