"""What a workflow started by a Temporal Schedule knows about the fire it stands for."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey

# Set by Temporal on every workflow a schedule starts: the nominal time of the fire (the cron match, before jitter).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def scheduled_time() -> datetime:
    """The cron time this run stands for, to the second; a run started by hand (not by a schedule) uses now.

    The time is in the workflow's start event, so replay sees the same value.
    """
    value = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
    moment = value if value is not None else workflow.now()
    return moment.astimezone(UTC).replace(microsecond=0)
