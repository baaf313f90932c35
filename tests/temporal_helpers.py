"""Reading Temporal directly from sync tests: schedules and workflow histories, on a client of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from dma.temporal import connect_client

T = TypeVar("T")


def with_temporal(address: str, use: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        return await use(await connect_client(address, "default"))

    return asyncio.run(run())


def describe_schedule(address: str, schedule_id: str) -> ScheduleDescription | None:
    """The schedule, or None when it does not exist."""

    async def describe(client: Client) -> ScheduleDescription | None:
        try:
            return await client.get_schedule_handle(schedule_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    return with_temporal(address, describe)


def workflow_ids(address: str, query: str) -> list[str]:
    """Ids of the workflows a visibility query finds."""

    async def listed(client: Client) -> list[str]:
        return [execution.id async for execution in client.list_workflows(query)]

    return with_temporal(address, listed)


def history_of(address: str, workflow_id: str) -> Any:
    async def fetch(client: Client) -> Any:
        return await client.get_workflow_handle(workflow_id).fetch_history()

    return with_temporal(address, fetch)
