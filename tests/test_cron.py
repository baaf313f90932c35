"""The cron grammar dma accepts (``dma.cron``): what reaches Temporal, and what is refused with which message."""

from __future__ import annotations

import pytest

from dma.cron import parse_cron, shortest_gap_seconds
from dma.schemas.common import SchemaError


@pytest.mark.parametrize(
    ("expression", "temporal"),
    [
        ("0 9 * * 1-5", "0 9 * * 1-5"),
        ("0 9 * * 7", "0 9 * * 0"),
        ("0 9 * * 5-7", "0 9 * * 0,5,6"),
        ("*/15 0-6/2 1,15 JAN-MAR mon", "*/15 0-6/2 1,15 JAN-MAR mon"),
        ("0 9 * jul sun", "0 9 * jul sun"),
        ("0 0 * * *", "0 0 * * *"),
    ],
)
def test_accepted_expressions(expression: str, temporal: str) -> None:
    assert parse_cron(expression, "UTC").temporal_expression == temporal


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("0 9 * * * *", "5 fields"),
        ("0 9 * *", "5 fields"),
        ("@daily", "shortcuts"),
        ("@every 5m", "shortcuts"),
        ("0 9 L * *", "special characters"),
        ("0 9 15W * *", "special characters"),
        ("0 9 * * 5L", "special characters"),
        ("0 9 * * 1#2", "special characters"),
        ("0 9 ? * *", "special characters"),
        ("60 * * * *", "minute value 60"),
        ("0 24 * * *", "hour value 24"),
        ("0 0 0 * *", "day-of-month value 0"),
        ("0 0 * 13 *", "month value 13"),
        ("0 0 * * 8", "day-of-week value 8"),
        ("0 0 * * FOO", "invalid value"),
        ("0 0 */0 * *", "step"),
        ("0 0 10-5 * *", "backwards"),
        ("0 0 1,,2 * *", "invalid element"),
    ],
)
def test_refused_expressions(expression: str, says: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_cron(expression, "UTC")
    assert says in caught.value.message


def test_timezones_must_be_iana() -> None:
    assert parse_cron("0 9 * * *", "America/Los_Angeles").timezone == "America/Los_Angeles"
    for zone in ("Mars/Base", "PST8PDT ", "", "utc+1"):
        with pytest.raises(SchemaError, match="IANA"):
            parse_cron("0 9 * * *", zone)


@pytest.mark.parametrize(
    ("expression", "gap"),
    [("* * * * *", 60), ("*/5 * * * *", 300), ("0 * * * *", 3600), ("0 9 * * *", 86400), ("0 9,21 * * *", 43200)],
)
def test_shortest_gap(expression: str, gap: int) -> None:
    assert shortest_gap_seconds(parse_cron(expression, "UTC")) == gap
