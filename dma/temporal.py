"""Temporal client construction shared by the API, the workers and the CLI."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

# Search attributes every session workflow carries, so sessions can be found in the Temporal Web UI.
SEARCH_ATTRIBUTES = {"AgentId": "Keyword", "SessionStatus": "Keyword"}


async def connect_client(address: str, namespace: str) -> Client:
    """A client that sends pydantic models across Temporal (DESIGN.md §3)."""
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
