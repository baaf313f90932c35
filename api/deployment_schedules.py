"""The API's side of a deployment's Temporal Schedule: mirror the row into it, read its times back.

Writes happen inside the request's DB transaction, before it commits: a schedule Temporal refuses (or a Temporal that
cannot be reached) fails the request with nothing written, and the row never claims a schedule that does not exist.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.service import RPCError, RPCStatusCode

from api.deps import AppState
from api.errors import InvalidRequest
from api.session_control import TemporalUnavailable
from dma.cron import parse_cron
from dma.store.tables import Deployment
from workflows import schedule_entry
from workflows.schedule_entry import Recurrence, Timing

logger = logging.getLogger(__name__)


def _failure(err: RPCError) -> Exception:
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return InvalidRequest(f"schedule: Temporal refused it: {err.message[:200]}")
    logger.warning("Temporal schedule call failed: %s", err.status)
    return TemporalUnavailable()


def note(row: Deployment) -> str:
    """The schedule's note: why it is paused (shown in the Web UI)."""
    if row.status != "paused" or not row.paused_reason:
        return ""
    reason = row.paused_reason
    if reason.get("type") == "error":
        return f"paused by dma: a fire failed with {reason.get('error', {}).get('type', 'an error')}"
    return "paused through the API"


async def put(state: AppState, row: Deployment) -> None:
    """Create or replace the schedule to match the row (its spec and paused state)."""
    assert row.schedule is not None, "only a deployment with a schedule has one in Temporal"
    parsed = parse_cron(str(row.schedule["expression"]), str(row.schedule["timezone"]))
    schedule = schedule_entry.deployment_schedule(
        row.id,
        Recurrence(cron=parsed.temporal_expression, timezone=parsed.timezone),
        task_queue=state.settings.task_queue,
        jitter=timedelta(seconds=state.settings.schedule_jitter_seconds),
        paused=row.status == "paused",
        note=note(row),
    )
    try:
        await schedule_entry.put_deployment_schedule(state.temporal, row.id, row.name, schedule)
    except RPCError as err:
        raise _failure(err) from err


async def set_paused(state: AppState, row: Deployment) -> None:
    """Pause or unpause the schedule as the row says (a schedule that vanished is put back)."""
    if row.schedule is None:
        return
    try:
        found = await schedule_entry.set_paused(state.temporal, row.id, row.status == "paused", note(row))
    except RPCError as err:
        raise _failure(err) from err
    if not found:
        await put(state, row)


async def remove(state: AppState, row: Deployment) -> None:
    """Delete the schedule, keeping its last fire time on the row."""
    try:
        found = await schedule_entry.timing(state.temporal, row.id)
        if found is not None and found.last_run_at is not None:
            row.last_run_at = found.last_run_at
        await schedule_entry.delete_schedule(state.temporal, row.id)
    except RPCError as err:
        raise _failure(err) from err


async def timing(state: AppState, row: Deployment) -> Timing | None:
    """The schedule's own next and last fire times; None without a schedule, or when Temporal cannot say."""
    if row.schedule is None or row.archived_at is not None:
        return None
    try:
        return await schedule_entry.timing(state.temporal, row.id)
    except RPCError as err:
        logger.warning("could not read the schedule of %s: %s", row.id, err.status)
        return None


async def timings(state: AppState, rows: list[Deployment]) -> list[Timing | None]:
    """``timing`` for each row, read concurrently."""
    return list(await asyncio.gather(*(timing(state, row) for row in rows)))
