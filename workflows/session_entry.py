"""The way into a session's workflow from outside it: the API, and the activities that fire deployments and wakeups.

Every delivery is a signal-with-start (DESIGN.md §3): it works whether or not the workflow runs, and never races the
session's creation. The workflow is named by its registered name, so importing this module pulls in no workflow code
(activities must not import workflow classes); ``tests/workflows/test_boundary.py`` checks the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows.contracts import Delivery, SandboxSpec, SessionStart
from workflows.session_state import status_attributes

SESSION_WORKFLOW = "SessionWorkflow"
DELIVER_SIGNAL = "deliver"
SHUTDOWN_SIGNAL = "shutdown"
ARM_WAKEUP_SIGNAL = "arm_wakeup"
CANCEL_WAKEUP_SIGNAL = "cancel_wakeup"


class SessionFacts(Protocol):
    """What a session's start input is made from (a ``dma.store.tables.Session`` row has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def agent(self) -> dict[str, Any]: ...
    @property
    def title(self) -> str | None: ...
    @property
    def environment_config(self) -> dict[str, Any]: ...
    @property
    def event_seq(self) -> int: ...


@dataclass(frozen=True)
class SessionLaunch:
    """Where session workflows run and the settings their input carries (recorded in history)."""

    task_queue: str
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    mcp_max_attempts: int = 6


def sandbox_spec(session: SessionFacts) -> SandboxSpec:
    """The sandbox a session's environment asks for (captured at session creation)."""
    return SandboxSpec.of_session(session.id, session.environment_config, session.agent)


def _model_id(session: SessionFacts) -> str:
    model: dict[str, Any] = session.agent.get("model") or {}
    return str(model.get("id", ""))[:100]


def _summary(session: SessionFacts) -> str:
    name = str(session.agent.get("name", session.agent_id))
    return f"{name} · {session.title}"[:200] if session.title else name[:200]


def session_start(launch: SessionLaunch, session: SessionFacts) -> SessionStart:
    """The input a new run of the session's workflow starts from."""
    return SessionStart(
        session_id=session.id,
        agent_id=session.agent_id,
        model=_model_id(session),
        continue_as_new_after_turns=launch.continue_as_new_after_turns,
        model_max_attempts=launch.model_max_attempts,
        mcp_max_attempts=launch.mcp_max_attempts,
        sandbox=sandbox_spec(session),
        # Only used if this signal starts a new run: with events already in the log, an earlier run ended abruptly
        # (terminated, failed, lost) and the new one reconciles what it left.
        reconcile=session.event_seq > 0,
    )


async def signal_with_start(
    temporal: Client,
    launch: SessionLaunch,
    session: SessionFacts,
    signal: str,
    payload: BaseModel,
    rpc_timeout: timedelta | None = None,
) -> None:
    """Send ``signal`` to the session's workflow, starting it first if it does not run (``rpc_timeout`` per attempt).

    Raises:
        RPCError: when Temporal cannot take it (the caller decides what that means).
    """
    await temporal.start_workflow(
        SESSION_WORKFLOW,
        session_start(launch, session),
        id=session.id,
        task_queue=launch.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=signal,
        start_signal_args=[payload],
        search_attributes=status_attributes(session.agent_id, "idle"),
        static_summary=_summary(session),
        rpc_timeout=rpc_timeout,
    )


async def deliver(
    temporal: Client,
    launch: SessionLaunch,
    session: SessionFacts,
    delivery: Delivery,
    rpc_timeout: timedelta | None = None,
) -> None:
    """Hand persisted user events to the session's workflow (see ``signal_with_start``)."""
    await signal_with_start(temporal, launch, session, DELIVER_SIGNAL, delivery, rpc_timeout)


async def signal_if_running(temporal: Client, session_id: str, signal: str, payload: BaseModel) -> bool:
    """Signal the session's workflow if it runs; False when there is none (a session that never ran).

    Raises:
        RPCError: for any failure but "not found".
    """
    try:
        await temporal.get_workflow_handle(session_id).signal(signal, payload)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
