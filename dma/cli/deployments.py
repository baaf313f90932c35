"""``dma deployments`` and ``dma deployment-runs``: what is deployed and what its fires did, read from the database.

Operator verbs (like ``dma keys``): they read the database, not the API. The Temporal side of each deployment is its
schedule, found in the Web UI under the deployment's id.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dma.cli.keys import with_database
from dma.cli.output import lines
from dma.clock import rfc3339

Limit = Annotated[int, typer.Option(help="How many rows at most (newest first).")]


def register(app: typer.Typer) -> None:
    """Add the deployment verbs to the ``dma`` command."""
    app.command("deployments")(deployments)
    app.command("deployment-runs")(deployment_runs)


def deployments(
    agent_id: Annotated[str | None, typer.Option(help="Only this agent's deployments.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include archived deployments.")] = False,
    limit: Limit = 50,
) -> None:
    """List deployments as tab-separated lines (newest first)."""
    from dma.store import deployments as store
    from dma.store.engine import Database
    from dma.store.tables import Deployment

    async def read(db: Database) -> list[Deployment]:
        async with db.read() as session:
            return await store.page(
                session, store.DeploymentFilter(agent_id=agent_id, include_archived=all_), limit, None
            )

    rows = ["\t".join(("ID", "NAME", "STATUS", "SCHEDULE", "AGENT", "CREATED"))]
    for row in with_database(read)[:limit]:
        status = "archived" if row.archived_at else row.status
        schedule = f"{row.schedule['expression']} ({row.schedule['timezone']})" if row.schedule else "manual"
        fields = (row.id, row.name, status, schedule, f"{row.agent_id}@{row.agent_version}", rfc3339(row.created_at))
        rows.append("\t".join(field or "" for field in fields))
    lines(*rows)


def deployment_runs(
    deployment_id: Annotated[str | None, typer.Option(help="Only this deployment's runs.")] = None,
    limit: Limit = 50,
) -> None:
    """List deployment runs as tab-separated lines (newest first)."""
    from dma.store import deployments as store
    from dma.store.engine import Database
    from dma.store.tables import DeploymentRun

    async def read(db: Database) -> list[DeploymentRun]:
        async with db.read() as session:
            return await store.run_page(session, store.RunFilter(deployment_id=deployment_id), limit, None)

    rows = ["\t".join(("ID", "DEPLOYMENT", "TRIGGER", "SCHEDULED", "SESSION / ERROR", "CREATED"))]
    for row in with_database(read)[:limit]:
        outcome = row.session_id or str((row.error or {}).get("type", ""))
        scheduled = rfc3339(row.scheduled_at) or "-"
        fields = (row.id, row.deployment_id, row.trigger_type, scheduled, outcome, rfc3339(row.created_at))
        rows.append("\t".join(field or "" for field in fields))
    lines(*rows)
