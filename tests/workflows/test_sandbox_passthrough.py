"""The worker shares ``SessionWorkflow``'s modules with every run (``workers.main.WORKER_SANDBOX``): what that needs.

A shared module is imported once per worker, so module-level state would leak from one run into the next, and the
sandbox no longer re-imports it to check it. These tests keep the shared modules free of mutable state, keep the
list whole (a module left out is re-imported for every run), and check that the workflow tests themselves run in the
default sandbox, where a non-deterministic call in these modules fails.
"""

from __future__ import annotations
import __future__

import asyncio
import dataclasses
import enum
import importlib
import sys
import types
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.workflows.fakes import STRICT_SANDBOX
from workers.main import SESSION_WORKFLOW_MODULES, WORKER_SANDBOX
from workflows.declarations import ActivityDef
from workflows.session import SessionWorkflow

# Module-level values a run cannot change: constants, and objects whose class forbids assignment. The SDK's
# ``RetryPolicy`` is a plain dataclass, but workflow code only hands one to the SDK, which copies it into a command.
_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    timedelta,
    frozenset,
    enum.Enum,
    SearchAttributeKey,
    RetryPolicy,
    TypeVar,
    __future__._Feature,  # pyright: ignore[reportPrivateUsage] - ``from __future__ import annotations``
)


def _immutable(value: object) -> bool:
    if isinstance(value, _IMMUTABLE) or isinstance(value, type | types.ModuleType | Callable):
        return True
    if isinstance(value, tuple):
        items: tuple[object, ...] = value  # pyright: ignore[reportUnknownVariableType] - any tuple
        return all(_immutable(item) for item in items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params: Any = getattr(type(value), "__dataclass_params__")  # noqa: B009 - no public accessor
        return bool(params.frozen) and all(_immutable(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


# Containers a class body may not hold: instances get their own in ``__init__``; a class attribute is shared by all.
_CONTAINERS = (list, dict, set, bytearray, deque)


def _mutable_state(module: types.ModuleType) -> dict[str, str]:
    """Module-level values, and class attributes of the module's own classes, that a run could change."""
    found: dict[str, str] = {}
    for key, value in vars(module).items():
        if key.startswith("__"):
            continue
        if not _immutable(value):
            found[key] = type(value).__name__
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for attribute, held in vars(value).items():
                # Dunder entries and pydantic's ``model_config`` are the class machinery's own, set when it is made.
                if attribute.startswith("__") or attribute == "model_config":
                    continue
                if isinstance(held, _CONTAINERS):
                    found[f"{key}.{attribute}"] = type(held).__name__
    return found


@pytest.mark.parametrize("name", [*SESSION_WORKFLOW_MODULES, "workflows.contracts", "workflows.declarations"])
def test_a_shared_workflow_module_holds_no_mutable_state(name: str) -> None:
    mutable = _mutable_state(importlib.import_module(name))
    assert not mutable, f"{name} would share these between workflow runs: {mutable}"


def test_the_guard_sees_mutable_state() -> None:
    assert not _immutable([])
    assert not _immutable({"a": 1})
    assert not _immutable((1, []))
    assert _immutable(ActivityDef) and _immutable((1, "a", timedelta(seconds=1)))
    module = types.ModuleType("workflows.probe")

    class Shared:
        seen: ClassVar[list[str]] = []

    Shared.__module__ = module.__name__
    module.Shared = Shared  # pyright: ignore[reportAttributeAccessIssue] - a module built for the test
    module.counts = {}  # pyright: ignore[reportAttributeAccessIssue]
    assert _mutable_state(module) == {"Shared.seen": "list", "counts": "dict"}


def _reimported(restrictions: SandboxRestrictions) -> set[str]:
    """The ``workflows.*`` modules a new run of ``SessionWorkflow`` gets its own copy of (those not shared with it)."""
    instances: list[WorkflowInstance] = []

    class Capturing(SandboxedWorkflowRunner):
        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            instances.append(super().create_instance(det))
            return instances[-1]

    async def create() -> None:  # the workflow runtime wants a running loop
        # Builds one sandboxed instance, as for a new run (the SDK's own check of a workflow class at registration).
        Capturing(restrictions=restrictions).prepare_workflow(workflow._Definition.from_class(SessionWorkflow))  # pyright: ignore[reportPrivateUsage]

    asyncio.run(create())
    modules: dict[str, types.ModuleType] = getattr(getattr(instances[0], "importer"), "new_modules")  # noqa: B009
    in_run = {name: module for name, module in modules.items() if name.startswith("workflows.")}
    assert "workflows.session" in in_run, "the run imported no workflow module"
    return {name for name, module in in_run.items() if module is not sys.modules.get(name)}


def test_the_worker_shares_every_module_the_session_workflow_imports() -> None:
    assert _reimported(WORKER_SANDBOX) == set()


def test_the_default_sandbox_gives_each_run_its_own_workflow_modules() -> None:
    # The check above can fail: without the worker's list, every module of the workflow is a run's own copy.
    assert set(SESSION_WORKFLOW_MODULES) <= _reimported(STRICT_SANDBOX)


def test_the_workflow_tests_run_in_the_default_sandbox() -> None:
    assert not STRICT_SANDBOX.passthrough_all_modules
    assert not any(name.startswith("workflows") for name in STRICT_SANDBOX.passthrough_modules)
    assert STRICT_SANDBOX.invalid_module_members == SandboxRestrictions.default.invalid_module_members
