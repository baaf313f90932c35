"""How the API talks to a session's workflow: signal-with-start to deliver events, a signal to shut it down."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from dma.settings import CommonSettings
from dma.store.tables import Session
from workflows.contracts import Delivery, SandboxSpec, SessionStart, Shutdown
from workflows.session import SessionWorkflow, status_attributes

logger = logging.getLogger(__name__)


# How long a delivery may take, every retry of the Temporal client included. A request whose delivery does not get
# through in this time still succeeds: its events stay queued and the reconciler (api/redelivery.py) delivers them.
DELIVERY_TIMEOUT = timedelta(seconds=1)


def sandbox_spec(session: Session) -> SandboxSpec:
    """The sandbox a session's environment asks for (captured at session creation)."""
    return SandboxSpec.of_session(session.id, session.environment_config, session.agent)


def _model_id(session: Session) -> str:
    model: dict[str, Any] = session.agent.get("model") or {}
    return str(model.get("id", ""))[:100]


def _summary(session: Session) -> str:
    name = str(session.agent.get("name", session.agent_id))
    return f"{name} · {session.title}"[:200] if session.title else name[:200]


async def deliver(temporal: Client, settings: CommonSettings, session: Session, delivery: Delivery) -> bool:
    """Hand persisted user events to the session workflow, starting it if needed (works while workers are down).

    Returns:
        Whether Temporal took the signal within ``DELIVERY_TIMEOUT``. When it did not, the events stay queued
        (``processed_at`` null) and the reconciler delivers them later; the workflow ignores ids it already holds.
    """
    try:
        # The client retries an unreachable server for ~10 s and rpc_timeout bounds only each attempt: cap the total.
        async with asyncio.timeout(DELIVERY_TIMEOUT.total_seconds()):
            await temporal.start_workflow(
                SessionWorkflow.run,
                SessionStart(
                    session_id=session.id,
                    agent_id=session.agent_id,
                    model=_model_id(session),
                    continue_as_new_after_turns=settings.continue_as_new_after_turns,
                    model_max_attempts=settings.model_max_attempts,
                    sandbox=sandbox_spec(session),
                    # Only used if this delivery starts a new run: with events already in the log, an earlier run
                    # ended abruptly (terminated, failed, lost) and the new one reconciles what it left.
                    reconcile=session.event_seq > 0,
                ),
                id=session.id,
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal="deliver",
                start_signal_args=[delivery],
                search_attributes=status_attributes(session.agent_id, "idle"),
                static_summary=_summary(session),
                rpc_timeout=DELIVERY_TIMEOUT,
            )
    except (RPCError, TimeoutError) as err:
        reason = err.status.name if isinstance(err, RPCError) else "timeout"
        logger.warning(
            "could not deliver events to session %s (%s); they stay queued for redelivery", session.id, reason
        )
        return False
    return True


async def shut_down(temporal: Client, session_id: str, reason: str) -> None:
    """Tell the workflow the session is archived or deleted; a session that never ran has no workflow."""
    handle: WorkflowHandle[SessionWorkflow, None] = temporal.get_workflow_handle_for(SessionWorkflow.run, session_id)
    shutdown = Shutdown(reason="deleted" if reason == "deleted" else "archived")
    try:
        async with asyncio.timeout(DELIVERY_TIMEOUT.total_seconds()):
            await handle.signal(SessionWorkflow.shutdown, shutdown, rpc_timeout=DELIVERY_TIMEOUT)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            logger.warning("could not signal shutdown to session %s: %s", session_id, err.status)
    except TimeoutError:
        logger.warning("could not signal shutdown to session %s: timeout", session_id)
