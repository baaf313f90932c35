"""``dma deployments`` and ``dma deployment-runs``: list what is deployed and what its fires did, from the database.

Kept apart from ``dma.cli`` (which only dispatches) so the verbs can move with the CLI's restructuring; each is a
small function from parsed arguments to an exit code. The Temporal side of each deployment is its schedule, found in
the Web UI under the deployment's id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from dma.clock import rfc3339
from dma.settings import CommonSettings
from dma.store import deployments as store
from dma.store.engine import Database


def _print_rows(rows: list[list[str]]) -> None:
    for row in rows:
        sys.stdout.write("\t".join(row) + "\n")


async def _deployments(db: Database, args: argparse.Namespace) -> list[list[str]]:
    filters = store.DeploymentFilter(agent_id=args.agent_id, include_archived=args.all)
    async with db.read() as session:
        found = await store.page(session, filters, args.limit, None)
    rows = [["ID", "NAME", "STATUS", "SCHEDULE", "AGENT", "CREATED"]]
    for row in found[: args.limit]:
        status = "archived" if row.archived_at else row.status
        schedule = f"{row.schedule['expression']} ({row.schedule['timezone']})" if row.schedule else "manual"
        agent = f"{row.agent_id}@{row.agent_version}"
        rows.append([row.id, row.name, status, schedule, agent, rfc3339(row.created_at) or ""])
    return rows


async def _runs(db: Database, args: argparse.Namespace) -> list[list[str]]:
    filters = store.RunFilter(deployment_id=args.deployment_id)
    async with db.read() as session:
        found = await store.run_page(session, filters, args.limit, None)
    rows = [["ID", "DEPLOYMENT", "TRIGGER", "SCHEDULED", "SESSION / ERROR", "CREATED"]]
    for row in found[: args.limit]:
        outcome = row.session_id or str((row.error or {}).get("type", ""))
        scheduled = rfc3339(row.scheduled_at) or "-"
        rows.append([row.id, row.deployment_id, row.trigger_type, scheduled, outcome, rfc3339(row.created_at) or ""])
    return rows


def run(args: argparse.Namespace) -> int:
    """Print the deployments (``deployments``) or their runs (``deployment-runs``) as tab-separated lines."""
    settings = CommonSettings()

    async def go() -> list[list[str]]:
        db = Database.connect(settings.resolved_database_url())
        try:
            return await (_runs(db, args) if args.verb == "deployment-runs" else _deployments(db, args))
        finally:
            await db.dispose()

    _print_rows(asyncio.run(go()))
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:  # pyright: ignore[reportPrivateUsage] - argparse's own type for add_subparsers()
    """Register the verbs on the ``dma`` parser."""
    listing = commands.add_parser("deployments", help="list deployments (newest first)")
    listing.add_argument("--agent-id", default=None)
    listing.add_argument("--all", action="store_true", help="include archived deployments")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=run, verb="deployments")
    runs = commands.add_parser("deployment-runs", help="list deployment runs (newest first)")
    runs.add_argument("--deployment-id", default=None)
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(run=run, verb="deployment-runs")
