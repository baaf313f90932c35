"""One model request in provider-neutral terms, and the interface every provider implements.

``messages`` and ``tools`` are in the Messages API's shape (what ``context.py`` builds from the log); each provider
module converts them to its own wire format and folds its stream back into a ``ModelResult``, so the ``model_step``
activity never knows which protocol answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from activities.model.result import ModelResult, StreamSink
from dma.catalog.catalog import Route

# Every agent has an effort (the contract fills in "high" when none is given), so "high" alone says nothing about
# what the user wants: models not known to take an effort get one only when it is something else.
DEFAULT_EFFORT = "high"


@dataclass(frozen=True)
class ModelRequest:
    """What to ask the model; ``effort`` and ``speed`` are set only when the provider should receive them."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    system: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    effort: str | None = None
    speed: str | None = None
    inference_geo: str | None = None


class Provider(Protocol):
    """A provider's protocol: run one streaming request, report previews to ``sink``, return what it produced."""

    async def stream(self, request: ModelRequest, sink: StreamSink) -> ModelResult: ...


def effort_for(route: Route, model_config: dict[str, Any]) -> str | None:
    """The agent's effort if this model takes one, or if it was set to something other than the default.

    The API refuses a non-default effort for models known not to take one, so what is sent here is either
    supported or the provider's to judge.
    """
    config: dict[str, Any] = model_config.get("effort") or {}
    effort = config.get("type")
    if not isinstance(effort, str):
        return None
    return effort if route.spec.effort or effort != DEFAULT_EFFORT else None


def max_tokens_for(route: Route, configured: int) -> int:
    """The worker's ``max_tokens``, capped by the model's output limit and by a quarter of a known context window."""
    limit = configured
    if route.spec.max_output_tokens:
        limit = min(limit, route.spec.max_output_tokens)
    if route.spec.context_window:
        limit = min(limit, max(16, route.spec.context_window // 4))
    return limit


def build_request(
    route: Route,
    agent: dict[str, Any],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    max_tokens: int,
) -> ModelRequest:
    """The request for ``route`` from the agent snapshot and the context built from the log."""
    model_config: dict[str, Any] = agent.get("model") or {}
    speed, geo = model_config.get("speed"), model_config.get("inference_geo")
    return ModelRequest(
        model=route.model,
        messages=messages,
        max_tokens=max_tokens_for(route, max_tokens),
        system=agent.get("system") or None,
        tools=tools,
        effort=effort_for(route, model_config),
        speed=speed if isinstance(speed, str) else None,
        inference_geo=geo if isinstance(geo, str) else None,
    )
