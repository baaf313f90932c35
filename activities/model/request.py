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

# The Messages API's own default: sending it changes nothing, so models not known to take an effort may get it.
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


class Provider(Protocol):
    """A provider's protocol: run one streaming request, report previews to ``sink``, return what it produced."""

    async def stream(self, request: ModelRequest, sink: StreamSink) -> ModelResult: ...


def effort_for(route: Route, model_config: dict[str, Any]) -> str | None:
    """The agent's effort if this model takes one; for Anthropic also any non-default effort (the API judges it)."""
    config: dict[str, Any] = model_config.get("effort") or {}
    effort = config.get("type")
    if not isinstance(effort, str):
        return None
    if route.spec.effort or (route.provider.kind == "anthropic" and effort != DEFAULT_EFFORT):
        return effort
    return None


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
    speed = model_config.get("speed")
    return ModelRequest(
        model=route.model,
        messages=messages,
        max_tokens=max_tokens_for(route, max_tokens),
        system=agent.get("system") or None,
        tools=tools,
        effort=effort_for(route, model_config),
        speed=speed if isinstance(speed, str) else None,
    )
