"""Server-verb logging (dma/cli/logs.py): what stays quiet whatever the level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dma.cli.logs import CORE_LOGGER, PARAMETER_LOGGERS, configure


@pytest.fixture
def restored_levels() -> Iterator[None]:
    """Put back the root and driver levels this test changes, for the tests that run after it."""
    names = ["", *PARAMETER_LOGGERS]
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restored_levels")
def test_drivers_that_log_sql_parameters_stay_at_info_under_debug() -> None:
    # Their DEBUG lines carry statement parameters: a repository token, a memory's content.
    configure("debug")
    assert logging.getLogger().level == logging.DEBUG
    for name in PARAMETER_LOGGERS:
        assert logging.getLogger(name).level == logging.INFO, name
    configure("warning")
    for name in PARAMETER_LOGGERS:
        assert logging.getLogger(name).level == logging.WARNING, name


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.mark.usefixtures("restored_levels")
def test_long_workflow_tasks_are_not_warned_about_but_other_core_warnings_are() -> None:
    # A model step is a local activity: its workflow task stays open while the model answers, for any length.
    configure("warning")
    configure("warning")  # once per verb, but twice must not stack filters
    core = logging.getLogger(CORE_LOGGER)
    assert sum(type(known).__name__ == "_LongWorkflowTasks" for known in core.filters) == 1
    handler = _Seen()
    core.addHandler(handler)
    try:
        core.warning("[TMPRL1104] run:11:1 Workflow task duration exceeded 5 seconds.")
        core.warning("[TMPRL1101] Potential deadlock detected")
    finally:
        core.removeHandler(handler)
    assert handler.seen == ["[TMPRL1101] Potential deadlock detected"]
