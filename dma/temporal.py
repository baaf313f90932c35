"""Temporal client construction shared by the API, the workers and the CLI."""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

logger = logging.getLogger(__name__)

# Search attributes that make sessions, deployments and wakeups findable in the Temporal Web UI: session workflows carry
# AgentId and SessionStatus; deployment schedules and their fires DeploymentId; wakeup schedules and fires SessionId.
SEARCH_ATTRIBUTES = {
    "AgentId": "Keyword",
    "SessionStatus": "Keyword",
    "DeploymentId": "Keyword",
    "SessionId": "Keyword",
}
CONNECT_PATIENCE_SECONDS = 30.0


async def connect_client(address: str, namespace: str, patience: float = CONNECT_PATIENCE_SECONDS) -> Client:
    """A client that sends pydantic models across Temporal (DESIGN.md §3).

    A dev server that has just opened its port may still answer "frontend is not healthy yet", and a cluster may be
    restarting, so connecting is retried for ``patience`` seconds before the error is raised.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
        except (RuntimeError, RPCError) as err:
            if time.monotonic() >= deadline:
                raise
            logger.info("Temporal at %s is not ready yet (%s); retrying", address, err)
            await asyncio.sleep(0.5)
