"""Server-verb logging (dma/cli/logs.py): what stays quiet whatever the level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dma.cli.logs import PARAMETER_LOGGERS, configure


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
