"""Which SDK client serves a model id: the built-in scripted model, or Anthropic's API (or a compatible server)."""

from __future__ import annotations

import anthropic
import httpx2

from activities.model.scripted import SCRIPTED_MODEL_PREFIX, ScriptedTransport


def is_scripted(model_id: str) -> bool:
    """``scripted`` and ``scripted-*`` models are answered in-process, with no provider key."""
    return model_id == SCRIPTED_MODEL_PREFIX or model_id.startswith(SCRIPTED_MODEL_PREFIX + "-")


class ModelClients:
    """Holds one client per provider for the worker's lifetime. Temporal owns retries: ``max_retries=0``."""

    def __init__(self, anthropic_api_key: str | None, anthropic_base_url: str | None) -> None:
        self.anthropic = anthropic.AsyncAnthropic(
            api_key=anthropic_api_key or "missing-key",
            base_url=anthropic_base_url,
            max_retries=0,
            timeout=httpx2.Timeout(600.0, connect=10.0),
        )
        self.scripted = anthropic.AsyncAnthropic(
            api_key="scripted",
            base_url="http://scripted.local",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=ScriptedTransport()),
        )

    def for_model(self, model_id: str) -> anthropic.AsyncAnthropic:
        """The client to call for this model id."""
        return self.scripted if is_scripted(model_id) else self.anthropic

    async def close(self) -> None:
        await self.anthropic.close()
        await self.scripted.close()
