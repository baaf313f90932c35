"""``WakeupFireWorkflow``: the action of a recurring wakeup's Temporal Schedule.

The ``fire_wakeup`` activity writes the wakeup into the session's log as a queued ``system.message`` (id keyed by the
wakeup and the fire's cron time) and signal-with-starts the session, which takes it like a user message.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.contracts import FireWakeupReply, FireWakeupRequest, WakeupFireStart
from workflows.declarations import FIRE_WAKEUP
from workflows.scheduled import scheduled_time


@workflow.defn
class WakeupFireWorkflow:
    """Fires a recurring wakeup once, for the time Temporal started this run for."""

    @workflow.run
    async def run(self, start: WakeupFireStart) -> FireWakeupReply:
        at = scheduled_time()
        request = FireWakeupRequest(session_id=start.session_id, wakeup_id=start.wakeup_id, scheduled_at=at)
        return await FIRE_WAKEUP.run(request, summary=f"wake {start.session_id} ({start.wakeup_id})")
