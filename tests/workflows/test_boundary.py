"""The workflow–activity boundary: what the worker registers is exactly what ``workflows/declarations.py`` declares."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.deployments import DeploymentActivities
from activities.mcp.activities import McpActivities
from activities.mcp.builtin import BuiltinServers
from activities.model.providers import ModelClients
from activities.model.step import ModelActivities
from activities.sandboxes.manager import SandboxManager
from activities.tools.activities import ToolActivities
from activities.turns import TurnActivities
from activities.wakeups import WakeupActivities
from dma.bus import LocalBus
from dma.catalog.catalog import ModelCatalog
from dma.crypto import Keyring
from dma.settings import WorkerSettings
from dma.store.engine import Database
from dma.wakeups import WakeupLimits, Wakeups
from tests.stack import SECRET_KEY
from workers.main import WORKFLOWS, SharedActivities, host_activities, shared_activities
from workflows import schedule_entry, session_entry
from workflows.declarations import DECLARATION_ATTRIBUTE, DECLARED, ActivityDef
from workflows.deployment_fire import DeploymentFireWorkflow
from workflows.session import SessionWorkflow
from workflows.session_entry import SessionLaunch
from workflows.wakeup_entry import TemporalWakeups
from workflows.wakeup_fire import WakeupFireWorkflow


def registered(tmp_path: Path) -> tuple[list[Any], list[Any]]:
    db = Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    bus = LocalBus()
    settings = WorkerSettings(data_dir=tmp_path)
    model = ModelActivities(db, bus, ModelClients(settings), ModelCatalog.builtin(), 1024)
    turns = TurnActivities(db, bus)
    tools = ToolActivities(db, bus, SandboxManager(tmp_path), settings, host_id="h")
    temporal: Any = None  # never called: only the registrations are inspected
    launch = SessionLaunch("q")
    builtin = BuiltinServers.of(Wakeups(db, TemporalWakeups(temporal, launch), WakeupLimits()))
    mcp = McpActivities(db, bus, Keyring.from_settings(SECRET_KEY), builtin)
    deployments = DeploymentActivities(db, bus, temporal, launch)
    wakeups = WakeupActivities(db, bus, temporal, launch)
    shared = SharedActivities(model, turns, tools, mcp, deployments, wakeups)
    return shared_activities(shared), host_activities(tools)


def temporal_name(implementation: Any) -> str:
    definition = activity._Definition.must_from_callable(implementation)  # pyright: ignore[reportPrivateUsage]
    assert definition.name is not None
    return definition.name


def test_registered_activities_are_exactly_the_declared_ones(tmp_path: Path) -> None:
    shared, host = registered(tmp_path)
    names = {temporal_name(fn) for fn in shared + host}
    assert names == {declaration.name for declaration in DECLARED}
    assert len({d.name for d in DECLARED}) == len(DECLARED), "a name is declared twice"


def test_each_implementation_has_its_declarations_types(tmp_path: Path) -> None:
    shared, host = registered(tmp_path)
    for implementation in shared + host:
        declaration: ActivityDef[Any, Any] = getattr(implementation, DECLARATION_ATTRIBUTE)
        assert declaration in DECLARED
        assert temporal_name(implementation) == declaration.name
        hints = typing.get_type_hints(implementation)
        parameters = [name for name in hints if name != "return"]
        assert len(parameters) == 1, f"{declaration.name} takes one request"
        assert hints[parameters[0]] is declaration.request, declaration.name
        assert hints["return"] is declaration.reply, declaration.name


def test_workflows_name_no_activity_by_string() -> None:
    """Workflow modules call activities only through their declarations."""
    for path in Path("workflows").glob("*.py"):
        text = path.read_text()
        assert "workflow.start_activity(" not in text or path.name == "declarations.py", path
        assert "workflow.execute_activity(" not in text, path


def test_workflows_started_by_name_are_the_registered_ones() -> None:
    """``session_entry`` and ``schedule_entry`` name workflows and signals by string; the names must be real."""
    names = {workflow.__temporal_workflow_definition.name for workflow in WORKFLOWS}  # pyright: ignore[reportFunctionMemberAccess]
    assert session_entry.SESSION_WORKFLOW in names
    assert schedule_entry.DEPLOYMENT_FIRE_WORKFLOW in names
    assert schedule_entry.WAKEUP_FIRE_WORKFLOW in names
    assert {SessionWorkflow, DeploymentFireWorkflow, WakeupFireWorkflow} <= set(WORKFLOWS)
    definition = SessionWorkflow.__temporal_workflow_definition  # pyright: ignore[reportAttributeAccessIssue]
    signals = set(definition.signals)
    for signal in (
        session_entry.DELIVER_SIGNAL,
        session_entry.SHUTDOWN_SIGNAL,
        session_entry.ARM_WAKEUP_SIGNAL,
        session_entry.CANCEL_WAKEUP_SIGNAL,
    ):
        assert signal in signals, signal
