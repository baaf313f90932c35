"""The cron schedules dma accepts: 5-field POSIX cron with an IANA timezone, as the SDK's schedule params describe.

Temporal parses cron itself and accepts more (a seconds or a year field, ``@daily``, ``#``), so the contract's
narrower grammar is enforced here before anything reaches Temporal: ``minute hour day-of-month month day-of-week``,
each field ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; month and weekday
names (``JAN``, ``MON``) are accepted as most crons do. Day-of-week runs 0-7, where 0 and 7 both mean Sunday; ``7`` is
rewritten to ``0`` so Temporal sees one Sunday. ``L``, ``W``, ``#``, ``?`` and the ``@`` shortcuts are refused.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache

from dma.schemas.common import SchemaError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day-of-week", 0, 7, WEEKDAYS, 0),
)
_LAST_OR_WEEKDAY = re.compile(r"^[0-9]*(?:L|W|LW)$", re.IGNORECASE)
SPECIALS = "schedule.expression: the special characters L, W, # and ? are not supported"
_ELEMENT = re.compile(r"^(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?$")


@dataclass(frozen=True)
class CronSchedule:
    """A validated schedule: the expression as given, the one Temporal gets, and the timezone."""

    expression: str
    temporal_expression: str
    timezone: str


def _value(field: _Field, token: str) -> int:
    if token.isdigit():
        number = int(token)
    elif _LAST_OR_WEEKDAY.match(token):
        raise SchemaError(SPECIALS)
    elif token.upper() in field.names:
        number = field.names.index(token.upper()) + field.name_base
    else:
        raise SchemaError(f"schedule.expression: {field.name} has an invalid value {token[:16]!r}")
    if not field.low <= number <= field.high:
        raise SchemaError(f"schedule.expression: {field.name} value {number} is outside {field.low}-{field.high}")
    return number


def _values(field: _Field, element: str) -> set[int]:
    """Every value one list element of a field selects."""
    match = _ELEMENT.match(element)
    if match is None:
        raise SchemaError(f"schedule.expression: {field.name} has an invalid element {element[:32]!r}")
    star, start, end, step = match.groups()
    if star:
        low, high = field.low, field.high
    else:
        low = _value(field, start)
        high = _value(field, end) if end is not None else (field.high if step else low)
        if low > high:
            raise SchemaError(f"schedule.expression: {field.name} range {element[:32]!r} runs backwards")
    stride = int(step) if step is not None else 1
    if stride < 1:
        raise SchemaError(f"schedule.expression: {field.name} step must be at least 1")
    return set(range(low, high + 1, stride))


def _field_values(field: _Field, text: str) -> set[int]:
    found: set[int] = set()
    for element in text.split(","):
        found |= _values(field, element)
    return found


def _weekdays(text: str) -> str:
    """The day-of-week field with ``7`` folded into ``0`` (both are Sunday); a field without a 7 stays as written."""
    values = _field_values(FIELDS[4], text)
    if text == "*" or 7 not in values:
        return text
    days = {0 if day == 7 else day for day in values}
    if days == set(range(7)):
        return "*"
    return ",".join(str(day) for day in sorted(days))


def parse_cron(expression: str, timezone: str) -> CronSchedule:
    """Validate a schedule as the SDK's ``BetaManagedAgentsScheduleParams`` documents it.

    Raises:
        SchemaError: naming the field or the timezone that is wrong.
    """
    if expression.strip().startswith("@"):
        raise SchemaError("schedule.expression: predefined shortcuts such as @daily are not supported")
    if "#" in expression or "?" in expression:
        raise SchemaError(SPECIALS)
    parts = expression.split()
    if len(parts) != 5:
        raise SchemaError(
            f"schedule.expression must have 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    for field, text in zip(FIELDS, parts, strict=True):
        for element in text.split(","):
            _values(field, element)
    check_timezone(timezone)
    temporal = " ".join([*parts[:4], _weekdays(parts[4])])
    return CronSchedule(expression=expression, temporal_expression=temporal, timezone=timezone)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(timezone: str) -> str:
    """The timezone if the IANA database knows it.

    Raises:
        SchemaError: for anything else.
    """
    if timezone not in _zones():
        raise SchemaError(f"schedule.timezone {timezone[:64]!r} is not an IANA timezone")
    return timezone


def _smallest_step(values: set[int], cycle: int) -> int:
    ordered = sorted(values)
    if len(ordered) == 1:
        return cycle
    steps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    return min([*steps, ordered[0] + cycle - ordered[-1]])


def shortest_gap_seconds(schedule: CronSchedule) -> int:
    """A lower bound of the time between two fires (from the minute and hour fields; the day fields only widen it)."""
    minute, hour = schedule.expression.split()[:2]
    minutes = _field_values(FIELDS[0], minute)
    hours = _field_values(FIELDS[1], hour)
    if len(minutes) > 1:
        return 60 * _smallest_step(minutes, 60)
    return 3600 * _smallest_step(hours, 24)
