"""How the API talks to a session's workflow: signal-with-start to deliver events, a signal to shut it down."""

from __future__ import annotations

import logging

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


class TemporalUnavailable(ApiError):
    """Temporal could not take the signal; the request changed nothing and may be retried (the SDK retries 503)."""

    def __init__(self) -> None:
        super().__init__(503, "the workflow service is unavailable; nothing was changed, retry shortly")


def session_launch(settings: CommonSettings) -> SessionLaunch:
    """Where session workflows run and what their input carries, from the settings."""
    return SessionLaunch(
        task_queue=settings.task_queue,
        continue_as_new_after_turns=settings.continue_as_new_after_turns,
        model_max_attempts=settings.model_max_attempts,
    )


async def deliver(temporal: Client, settings: CommonSettings, session: Session, delivery: Delivery) -> None:
    """Hand persisted user events to the session workflow, starting it if needed (works while workers are down)."""
    try:
        await session_entry.deliver(temporal, session_launch(settings), session, delivery)
    except RPCError as err:
        logger.warning("could not deliver events to session %s: %s", session.id, err.status)
        raise TemporalUnavailable() from err


async def shut_down(temporal: Client, session_id: str, reason: str) -> None:
    """Tell the workflow the session is archived or deleted; a session that never ran has no workflow."""
    shutdown = Shutdown(reason="deleted" if reason == "deleted" else "archived")
    try:
        await session_entry.signal_if_running(temporal, session_id, session_entry.SHUTDOWN_SIGNAL, shutdown)
    except RPCError as err:
        logger.warning("could not signal shutdown to session %s: %s", session_id, err.status)


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
