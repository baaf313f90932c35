"""How the API talks to a session's workflow: signal-with-start to deliver events, a signal to shut it down."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import AppState
from api.errors import ApiError
from dma.schemas.common import UnavailableError
from dma.settings import CommonSettings
from dma.store.tables import Session
from dma.wakeups import WakeupLimits, Wakeups
from workflows import session_entry
from workflows.contracts import Delivery, Shutdown
from workflows.session_entry import SessionLaunch
from workflows.wakeup_entry import TemporalWakeups

logger = logging.getLogger(__name__)


# How long a delivery may take, every retry of the Temporal client included. A request whose delivery does not get
# through in this time still succeeds: its events stay queued and the reconciler (api/redelivery.py) delivers them.
DELIVERY_TIMEOUT = timedelta(seconds=1)


class TemporalUnavailable(ApiError):
    """Temporal could not take a call the request depends on; nothing was changed, and it may be retried."""

    def __init__(self) -> None:
        super().__init__(503, "the workflow service is unavailable; nothing was changed, retry shortly")


def session_launch(settings: CommonSettings) -> SessionLaunch:
    """Where session workflows run and what their input carries, from the settings."""
    return SessionLaunch(
        task_queue=settings.task_queue,
        continue_as_new_after_turns=settings.continue_as_new_after_turns,
        model_max_attempts=settings.model_max_attempts,
        mcp_max_attempts=settings.mcp_max_attempts,
    )


async def deliver(temporal: Client, settings: CommonSettings, session: Session, delivery: Delivery) -> bool:
    """Hand persisted user events to the session workflow, starting it if needed (works while workers are down).

    Returns:
        Whether Temporal took the signal within ``DELIVERY_TIMEOUT``. When it did not, the events stay queued
        (``processed_at`` null) and the reconciler delivers them later; the workflow ignores ids it already holds.
    """
    try:
        # The client retries an unreachable server for ~10 s and rpc_timeout bounds only each attempt: cap the total.
        async with asyncio.timeout(DELIVERY_TIMEOUT.total_seconds()):
            await session_entry.deliver(temporal, session_launch(settings), session, delivery, DELIVERY_TIMEOUT)
    except (RPCError, TimeoutError) as err:
        reason = err.status.name if isinstance(err, RPCError) else "timeout"
        logger.warning(
            "could not deliver events to session %s (%s); they stay queued for redelivery", session.id, reason
        )
        return False
    return True


async def shut_down(temporal: Client, session_id: str, reason: str) -> None:
    """Tell the workflow the session is archived or deleted; a session that never ran has no workflow."""
    shutdown = Shutdown(reason="deleted" if reason == "deleted" else "archived")
    try:
        async with asyncio.timeout(DELIVERY_TIMEOUT.total_seconds()):
            await session_entry.signal_if_running(temporal, session_id, session_entry.SHUTDOWN_SIGNAL, shutdown)
    except RPCError as err:
        logger.warning("could not signal shutdown to session %s: %s", session_id, err.status)
    except TimeoutError:
        logger.warning("could not signal shutdown to session %s: timeout", session_id)


def wakeups_of(state: AppState) -> Wakeups:
    """The wakeup interface over the app's DB and Temporal client."""
    return Wakeups(
        state.db, TemporalWakeups(state.temporal, session_launch(state.settings)), WakeupLimits.of(state.settings)
    )


async def remove_wakeups(state: AppState, session_id: str, *, deleted: bool) -> None:
    """The session is archived or deleted: its wakeups go too.

    A schedule Temporal cannot delete now is deleted by its next fire, which finds the session gone.
    """
    try:
        await wakeups_of(state).remove_all(session_id, deleted=deleted)
    except UnavailableError:
        logger.warning("could not remove the wakeup schedules of session %s now", session_id)
