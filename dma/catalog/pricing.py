"""List prices and the cost of a model request, in exact micro-dollars (whole cents only on the wire).

Prices are USD per million tokens, so ``tokens × price`` is micro-dollars directly. Costs are summed in integer
micro-dollars so that a session total never drifts; they become whole cents only where the contract wants a
``list_cost`` (``MonetaryAmount.amount``: minor units, no leading zeros).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_CENT = 10_000


@dataclass(frozen=True)
class Prices:
    """USD per million tokens. Cache prices left unset follow Anthropic's multipliers of the input price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost_micros(self, usage: Mapping[str, int]) -> int:
        """The list cost of one request's usage (the four ``model_usage`` counts), rounded to a micro-dollar."""
        cache_read = self.cache_read if self.cache_read is not None else self.input * 0.1
        cache_write = self.cache_write if self.cache_write is not None else self.input * 1.25
        total = (
            Decimal(str(self.input)) * int(usage.get("input_tokens", 0))
            + Decimal(str(self.output)) * int(usage.get("output_tokens", 0))
            + Decimal(str(cache_read)) * int(usage.get("cache_read_input_tokens", 0))
            + Decimal(str(cache_write)) * int(usage.get("cache_creation_input_tokens", 0))
        )
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents(micros: int) -> int:
    """Whole cents of an amount in micro-dollars (half a cent rounds up)."""
    return int((Decimal(micros) / MICROS_PER_CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def list_cost(micros: int) -> dict[str, str]:
    """The contract's ``MonetaryAmount`` for an amount in micro-dollars."""
    return {"amount": str(cents(micros)), "currency": "USD"}


def cap_micros(budget: Mapping[str, object] | None) -> int | None:
    """A session budget's cap in micro-dollars (None: no budget). The amount was validated at the API."""
    if not budget:
        return None
    amount: object = budget.get("max_list_cost")
    if not isinstance(amount, Mapping):
        return None
    value = amount.get("amount")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType] - JSON
    return int(str(value)) * MICROS_PER_CENT  # pyright: ignore[reportUnknownArgumentType] - validated digits
