"""Logging for the server verbs (``dma dev|api|worker|migrate``): quiet by default, one line per session turn.

At the default level (``DMA_LOG_LEVEL=WARNING``) a terminal shows warnings and errors, plus the one line per turn
that ``SessionWorkflow`` logs when a turn ends. Libraries that log every request or migration step at INFO stay at
WARNING even when dma's own level is lower, so ``DMA_LOG_LEVEL=INFO`` shows dma's INFO lines, not theirs; DEBUG
shows everything. Temporal's Rust core logs through Python logging too (not straight to stderr with ANSI colours).
"""

from __future__ import annotations

import logging

from temporalio import workflow
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A request line per model call (httpx, httpx2), one line per migration (alembic), an access line per request.
CHATTY_LIBRARIES = ("httpx", "httpx2", "httpcore", "alembic", "uvicorn.access", "docker", "urllib3")
# ``workflow.logger`` is a LoggerAdapter on this logger; it is silent on replay, so a turn is logged once.
# Drivers whose DEBUG lines carry SQL statement parameters (a repository token, a memory's content): never below
# INFO, even when everything else is at DEBUG.
PARAMETER_LOGGERS = ("aiosqlite", "sqlalchemy.engine")
TURN_LOGGER = "temporalio.workflow"
CORE_LOGGER = "temporalio.core"
LONG_WORKFLOW_TASK = "TMPRL1104"


def level_number(level: str) -> int:
    """The numeric level of a name such as ``warning``; unknown names mean WARNING."""
    number = logging.getLevelNamesMapping().get(level.strip().upper())
    return number if number is not None else logging.WARNING


def configure(level: str) -> None:
    """Configure logging once, in the entrypoint of a server verb (STYLE.md §9)."""
    number = level_number(level)
    logging.basicConfig(level=number, format=LOG_FORMAT, force=True)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(number if number <= logging.DEBUG else max(number, logging.WARNING))
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))
    # The per-turn line is INFO; it stays visible at the quiet default, and hides only above WARNING.
    logging.getLogger(TURN_LOGGER).setLevel(logging.INFO if number <= logging.WARNING else number)
    # The turn line names its session already; the adapter's dict of workflow info would double its length.
    workflow.logger.workflow_info_on_message = False
    _forward_core_logs(number)


class _LongWorkflowTasks(logging.Filter):
    """Drops the core's warning that a workflow task ran over 5 s (TMPRL1104).

    A model step is a local activity (``workflows.session.LOCAL_MODEL_STEP``) and holds its workflow task open for
    as long as the model answers, so every model call longer than 5 s would print it. Workflow code that is stuck
    still shows: the SDK's deadlock detection fails its task after 2 s, and that failure is logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return LONG_WORKFLOW_TASK not in record.getMessage()


def _forward_core_logs(number: int) -> None:
    """Route the Temporal core's logs through Python logging, at WARN (DEBUG: INFO), before any client connects."""
    core_level = "INFO" if number <= logging.DEBUG else "WARN"
    core = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(known, _LongWorkflowTasks) for known in core.filters):
        core.addFilter(_LongWorkflowTasks())
    forwarding = LogForwardingConfig(logger=core)
    telemetry = TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level=core_level, other_level="ERROR"), forwarding=forwarding)
    )
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
