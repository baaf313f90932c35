"""``DeploymentFireWorkflow``: the action of a deployment's Temporal Schedule (DESIGN.md §7).

One run per fire. It holds no state of its own: the ``fire_deployment`` activity resolves the pinned agent, creates the
session, stores the run and delivers the initial events, keyed by the fire's cron time so that a retried activity or a
re-run fire finds the run it already recorded.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.contracts import DeploymentFireStart, FireDeploymentReply, FireDeploymentRequest
from workflows.declarations import FIRE_DEPLOYMENT
from workflows.scheduled import scheduled_time


@workflow.defn
class DeploymentFireWorkflow:
    """Fires a deployment once, for the cron time Temporal started this run for."""

    @workflow.run
    async def run(self, start: DeploymentFireStart) -> FireDeploymentReply:
        at = scheduled_time()
        request = FireDeploymentRequest(deployment_id=start.deployment_id, scheduled_at=at)
        summary = f"fire {start.deployment_id} for {at.isoformat()}"
        return await FIRE_DEPLOYMENT.run(request, summary=summary)
