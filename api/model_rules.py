"""Rules that need the model catalog: model ids must route to a provider, and budgets must be measurable.

API_CONTRACT.md §5.8: a budget can only measure priced models, can be raised only above what the session already
spent, can be removed (for good), and can never be added to a session created without one. A session sits "at its
budget" once its list cost reaches the cap; it then accepts only the events that settle work already started.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.errors import InvalidRequest
from dma.catalog.catalog import ModelCatalog
from dma.catalog.pricing import cap_micros, list_cost
from dma.schemas.agent_parts import DEFAULT_EFFORT
from dma.store.tables import Session

SETTLE_TYPES = ("user.tool_confirmation", "user.tool_result", "user.custom_tool_result", "user.interrupt")


def model_id_of(agent: Mapping[str, Any]) -> str:
    """The model id of an agent body or session snapshot."""
    model: Mapping[str, Any] = agent.get("model") or {}
    return str(model.get("id", ""))


def check_model(catalog: ModelCatalog, agent: Mapping[str, Any]) -> None:
    """An agent's model id must name a known provider (``UnknownModel``, a 400, otherwise).

    A model known not to take a reasoning effort cannot be given one; the default every agent gets (``high``) is
    never sent to it.
    """
    route = catalog.route(model_id_of(agent))
    model: Mapping[str, Any] = agent.get("model") or {}
    effort: Mapping[str, Any] = model.get("effort") or {}
    level = effort.get("type")
    if route.spec.known and not route.spec.effort and level not in (None, DEFAULT_EFFORT):
        raise InvalidRequest(
            f"model.effort: {route.model_id!r} does not take a reasoning effort; leave effort unset (or "
            f"{DEFAULT_EFFORT!r}), or declare effort = true for it in the providers file"
        )


def check_budgeted_models(catalog: ModelCatalog, agent: Mapping[str, Any]) -> None:
    """A session with a budget may only use models with a list price (its model and every fallback)."""
    unpriced = catalog.unpriced(model_id_of(agent))
    if unpriced:
        raise InvalidRequest(
            f"budget: model {unpriced[0]!r} has no known list price, so a budget cannot measure it; give it prices "
            "in the providers file (input_price, output_price) or create the session without a budget"
        )


def at_budget(session: Session) -> bool:
    """Whether the session's list cost has reached its cap."""
    cap = cap_micros(session.budget)
    return cap is not None and session.cost_micro_usd >= cap


def check_budget_change(catalog: ModelCatalog, session: Session, new_budget: Mapping[str, Any] | None) -> None:
    """Replace (above the cost already spent) or remove; only on a session that was created with a budget.

    A budget over a model that has (since) no list price cannot be raised, only removed: no cap could measure it.
    """
    if session.budget is None:
        raise InvalidRequest(
            "budget: this session has no budget (it was created without one, or it was removed); a budget can "
            "only be set when a session is created"
        )
    cap = cap_micros(new_budget)
    if cap is not None:
        check_budgeted_models(catalog, session.agent)
    if cap is not None and cap <= session.cost_micro_usd:
        spent = list_cost(session.cost_micro_usd)["amount"]
        raise InvalidRequest(f"budget.max_list_cost.amount must exceed the list cost already consumed ({spent} cents)")


def reject_work_at_budget(session: Session, event_types: list[str]) -> None:
    """At the budget only settle events are accepted (API_CONTRACT.md §5.3)."""
    if not at_budget(session):
        return
    for index, kind in enumerate(event_types):
        if kind not in SETTLE_TYPES:
            raise InvalidRequest(
                f"events.{index}: the session has reached its budget, so {kind} cannot start work; raise or remove "
                f"the budget first (accepted now: {', '.join(SETTLE_TYPES)})"
            )
