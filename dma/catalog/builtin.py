"""The built-in model table: context windows, output limits and list prices of current Claude and OpenAI models.

Prices are public list prices in USD per million tokens (cache reads and writes as each vendor bills them). Models
not listed here still work; they have no known price (a session with a budget refuses them) and no known context
window (their context is never compacted) until the providers file gives them one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dma.catalog.pricing import Prices


@dataclass(frozen=True)
class ModelSpec:
    """What dma knows about one model.

    Attributes:
        context_window: Input plus output tokens the model accepts (None: unknown, never compacted).
        max_output_tokens: The most output tokens a request may ask for (None: unknown).
        prices: List prices (None: unknown).
        effort: Whether the model takes a reasoning effort (``output_config.effort`` / ``reasoning_effort``).
        fallbacks: Model ids tried in order when this one stays overloaded, rate limited or failing.
    """

    context_window: int | None = None
    max_output_tokens: int | None = None
    prices: Prices | None = None
    effort: bool = False
    fallbacks: tuple[str, ...] = field(default_factory=tuple[str, ...])

    @property
    def known(self) -> bool:
        """Whether dma knows this model (built-in table or providers file), so ``effort`` can be trusted."""
        return self.context_window is not None or self.prices is not None or self.effort


def _claude(price_in: float, price_out: float, output: int, effort: bool = True) -> ModelSpec:
    # Anthropic bills cache reads at 0.1x and 5-minute cache writes at 1.25x the input price.
    return ModelSpec(200_000, output, Prices(price_in, price_out, price_in * 0.1, price_in * 1.25), effort)


def _gpt(window: int, output: int, price_in: float, cached: float, price_out: float, effort: bool) -> ModelSpec:
    # OpenAI caches prompts automatically: reads are billed at the cached price, writes cost nothing extra.
    return ModelSpec(window, output, Prices(price_in, price_out, cached, price_in), effort)


ANTHROPIC_MODELS: dict[str, ModelSpec] = {
    "claude-opus-4-7": _claude(5.0, 25.0, 128_000),
    "claude-opus-4-6": _claude(5.0, 25.0, 128_000),
    "claude-sonnet-4-6": _claude(3.0, 15.0, 64_000),
    "claude-opus-4-5": _claude(5.0, 25.0, 64_000),
    "claude-opus-4-5-20251101": _claude(5.0, 25.0, 64_000),
    "claude-sonnet-4-5": _claude(3.0, 15.0, 64_000, effort=False),
    "claude-sonnet-4-5-20250929": _claude(3.0, 15.0, 64_000, effort=False),
    "claude-haiku-4-5": _claude(1.0, 5.0, 64_000, effort=False),
    "claude-haiku-4-5-20251001": _claude(1.0, 5.0, 64_000, effort=False),
}

OPENAI_MODELS: dict[str, ModelSpec] = {
    "gpt-5.4": _gpt(400_000, 128_000, 2.5, 0.25, 15.0, True),
    "gpt-5.4-mini": _gpt(400_000, 128_000, 0.75, 0.075, 4.5, True),
    "gpt-5.4-nano": _gpt(400_000, 128_000, 0.2, 0.02, 1.25, True),
    "gpt-5.2": _gpt(400_000, 128_000, 1.75, 0.175, 14.0, True),
    "gpt-5.1": _gpt(400_000, 128_000, 1.25, 0.125, 10.0, True),
    "gpt-5": _gpt(400_000, 128_000, 1.25, 0.125, 10.0, True),
    "gpt-5-mini": _gpt(400_000, 128_000, 0.25, 0.025, 2.0, True),
    "gpt-5-nano": _gpt(400_000, 128_000, 0.05, 0.005, 0.4, True),
    "gpt-4.1": _gpt(1_047_576, 32_768, 2.0, 0.5, 8.0, False),
    "gpt-4.1-mini": _gpt(1_047_576, 32_768, 0.4, 0.1, 1.6, False),
    "gpt-4.1-nano": _gpt(1_047_576, 32_768, 0.1, 0.025, 0.4, False),
    "gpt-4o": _gpt(128_000, 16_384, 2.5, 1.25, 10.0, False),
    "gpt-4o-mini": _gpt(128_000, 16_384, 0.15, 0.075, 0.6, False),
    "o3": _gpt(200_000, 100_000, 2.0, 0.5, 8.0, True),
    "o4-mini": _gpt(200_000, 100_000, 1.1, 0.275, 4.4, True),
}

# The built-in offline model costs nothing, so budgets can be tried without a provider.
SCRIPTED_MODEL = ModelSpec(prices=Prices(0.0, 0.0, 0.0, 0.0))

BUILTIN_MODELS: dict[str, dict[str, ModelSpec]] = {"anthropic": ANTHROPIC_MODELS, "openai": OPENAI_MODELS}
