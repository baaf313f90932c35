"""Session budgets (API_CONTRACT.md §5.8) and list cost (§5.9), with the priced ``local/pricey`` model."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from api.errors import InvalidRequest
from api.model_rules import check_budget_change
from dma.catalog.catalog import ModelCatalog
from dma.catalog.pricing import Prices, cents
from dma.store.tables import Session
from tests.helpers import (
    make_agent,
    make_environment,
    make_session,
    user_message,
    wait_for_idle_events,
    wait_for_status,
)

WEATHER = {
    "type": "custom",
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
# 20 $/MTok of input: a first request of ~700 tokens costs more than a cent, the whole cap. Each prompt names its
# session: the fake's prompt cache would otherwise serve it cheaply from another test's identical prompt.
PADDING = "tell me about the weather. " * 100


def budget(amount: Any, currency: str = "USD") -> dict[str, Any]:
    return {"type": "limit", "max_list_cost": {"amount": amount, "currency": currency}}


def idles(client: anthropic.Anthropic, session_id: str) -> list[str]:
    return [e.stop_reason.type for e in client.beta.sessions.events.list(session_id) if e.type == "session.status_idle"]


def wait_for_idles(client: anthropic.Anthropic, session_id: str, count: int) -> list[Any]:
    wait_for_idle_events(client, session_id, 0)
    for _ in range(600):
        if len(idles(client, session_id)) >= count:
            return list(client.beta.sessions.events.list(session_id))
        wait_for_status(client, session_id, "idle")
    raise AssertionError(f"fewer than {count} idles: {idles(client, session_id)}")


def test_budget_pauses_the_turn_and_a_raise_resumes_it(client: anthropic.Anthropic, http: httpx.Client) -> None:
    agent = make_agent(client, model="local/pricey", tools=[WEATHER])
    session = make_session(client, agent=agent.id, budget=budget("1"))
    assert session.budget is not None and session.budget.max_list_cost.amount == "1"
    ask = f'[[tool:get_weather {{"city": "Paris"}}]] {session.id} ' + PADDING
    client.beta.sessions.events.send(session.id, events=[user_message(ask)])
    events = wait_for_idles(client, session.id, 1)
    use = next(e for e in events if e.type == "agent.custom_tool_use")
    assert events[-1].stop_reason.type == "requires_action"
    spent = client.beta.sessions.retrieve(session.id).usage.list_cost
    assert spent is not None and int(spent.amount) >= 1, "the first request alone crossed the cap"

    # At the budget only settle events are accepted; an interrupt is accepted, ignored and never stored.
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.beta.sessions.events.send(session.id, events=[user_message("more please")])
    assert "reached its budget" in refused.value.message and "user.custom_tool_result" in refused.value.message
    ignored = client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
    assert ignored.data[0].type == "user.interrupt"
    sunny = [{"type": "text", "text": "sunny"}]
    result = {"type": "user.custom_tool_result", "custom_tool_use_id": use.id, "content": sunny}
    client.beta.sessions.events.send(session.id, events=[result])
    events = wait_for_idles(client, session.id, 2)
    assert events[-1].type == "session.status_idle" and events[-1].stop_reason.type == "budget_reached"
    assert events[-2].type == "session.usage" and events[-2].budget is not None
    assert events[-2].usage.list_cost is not None and events[-2].usage.list_cost.amount == spent.amount
    assert "user.interrupt" not in [e.type for e in events]
    assert [e.type for e in events].count("span.model_request_start") == 1, "no request past the cap"
    assert client.beta.sessions.retrieve(session.id).status == "idle"

    with pytest.raises(anthropic.BadRequestError) as too_low:
        client.beta.sessions.update(session.id, budget=budget("1"))
    assert "must exceed the list cost already consumed" in too_low.value.message
    raised = client.beta.sessions.update(session.id, budget=budget("1000"))
    assert raised.budget is not None and raised.budget.max_list_cost.amount == "1000"
    events = wait_for_idles(client, session.id, 3)
    kinds = [e.type for e in events]
    resumed = kinds[len(kinds) - 1 - kinds[::-1].index("session.updated") + 1 :]
    assert resumed == [
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.usage",
        "session.status_idle",
    ]
    assert events[-1].stop_reason.type == "end_turn"
    final = [e for e in events if e.type == "agent.message"][-1]
    assert "get_weather returned: sunny" in final.content[0].text
    ends = [e for e in events if e.type == "span.model_request_end"]
    assert all((e.model_extra or {}).get("list_cost", {}).get("currency") == "USD" for e in ends)
    prices = Prices(20.0, 100.0)  # local/pricey in tests/providers.py
    exact = sum(prices.cost_micros(e.model_usage.model_dump()) for e in ends)
    after = client.beta.sessions.retrieve(session.id).usage
    assert after.list_cost is not None and after.list_cost.amount == str(cents(exact))
    client.beta.sessions.events.send(session.id, events=[user_message("and now?")])
    assert wait_for_idles(client, session.id, 4)[-1].stop_reason.type == "end_turn"


def test_removing_the_budget_resumes_and_is_final(client: anthropic.Anthropic) -> None:
    session = make_session(client, agent=make_agent(client, model="local/pricey").id, budget=budget("1"))
    client.beta.sessions.events.send(session.id, events=[user_message(f"{session.id} {PADDING}")])
    wait_for_idles(client, session.id, 1)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.events.send(session.id, events=[user_message("over the cap")])
    removed = client.beta.sessions.update(session.id, budget=None)
    assert removed.budget is None
    client.beta.sessions.events.send(session.id, events=[user_message("no cap now")])
    assert wait_for_idles(client, session.id, 2)[-1].stop_reason.type == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as readded:
        client.beta.sessions.update(session.id, budget=budget("5000"))
    assert "has no budget" in readded.value.message


@pytest.mark.parametrize(
    "bad",
    [
        budget("25.00"),
        budget("0"),
        budget("-5"),
        budget("0100"),
        budget(""),
        budget(2500),
        budget("2500", currency="EUR"),
        {"type": "limit"},
        {"type": "cap", "max_list_cost": {"amount": "2500", "currency": "USD"}},
    ],
)
def test_bad_budgets_are_400_and_create_nothing(client: anthropic.Anthropic, http: httpx.Client, bad: Any) -> None:
    agent = make_agent(client, model="local/pricey")
    env = make_environment(client)
    before = len(list(client.beta.sessions.list()))
    response = http.post("/v1/sessions", json={"agent": agent.id, "environment_id": env.id, "budget": bad})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    session = make_session(client, agent=agent.id, budget=budget("2500"))
    update = http.post(f"/v1/sessions/{session.id}", json={"budget": bad})
    assert update.status_code == 400, update.text
    assert client.beta.sessions.retrieve(session.id).budget.max_list_cost.amount == "2500"  # type: ignore[union-attr]
    assert len(list(client.beta.sessions.list())) == before + 1


def test_budget_rules_on_models_and_sessions(client: anthropic.Anthropic) -> None:
    env = make_environment(client)
    for unpriced in ("claude-unknown-model", "local/qwen-test", "claude-flaky"):
        agent = make_agent(client, model=unpriced)
        with pytest.raises(anthropic.BadRequestError) as raised:
            client.beta.sessions.create(agent=agent.id, environment_id=env.id, budget=budget("2500"))
        assert "has no known list price" in raised.value.message
    priced = make_agent(client, model="claude-sonnet-4-6")
    assert client.beta.sessions.create(agent=priced.id, environment_id=env.id, budget=budget("2500")).budget
    plain = client.beta.sessions.create(agent=priced.id, environment_id=env.id)
    with pytest.raises(anthropic.BadRequestError) as added:
        client.beta.sessions.update(plain.id, budget=budget("2500"))
    assert "has no budget" in added.value.message
    assert client.beta.sessions.retrieve(plain.id).budget is None


def test_a_budget_over_a_model_that_lost_its_price_can_only_be_removed() -> None:
    # The providers file changed after the session was created: the model has no price any more.
    session = Session(id="sesn_x", agent_id="agent_x", agent_version=1, agent={"model": {"id": "local-unpriced"}})
    session.budget, session.cost_micro_usd = budget("100"), 0
    catalog = ModelCatalog.builtin()
    with pytest.raises(InvalidRequest, match="has no known list price"):
        check_budget_change(catalog, session, budget("500"))
    check_budget_change(catalog, session, None)
