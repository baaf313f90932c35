"""List cost of model requests and the session budget (API_CONTRACT.md §5.8, §5.9).

Costs accumulate in exact micro-dollars on the session row (``cost_micro_usd``); ``usage.list_cost`` shows them in
whole cents. The budget is checked before each model request, so the final cost may land slightly above the cap.
"""

from __future__ import annotations

from typing import Any

from dma.catalog.catalog import Route
from dma.catalog.pricing import cap_micros, list_cost
from dma.store.tables import Session


def over_budget(session: Session, route: Route) -> bool:
    """Whether the next request must not run: the cap is reached, or the model has no price a cap can measure."""
    cap = cap_micros(session.budget)
    if cap is None:
        return False
    return route.spec.prices is None or session.cost_micro_usd >= cap


def charge(session: Session, route: Route, usage: dict[str, Any]) -> dict[str, str] | None:
    """Add one request's cost to the session and its ``usage.list_cost``.

    Returns:
        The request's own ``list_cost`` (None: the model has no price).
    """
    if route.spec.prices is None:
        return None
    micros = route.spec.prices.cost_micros(usage)
    session.cost_micro_usd += micros
    session.usage = {**(session.usage or {}), "list_cost": list_cost(session.cost_micro_usd)}
    return list_cost(micros)
