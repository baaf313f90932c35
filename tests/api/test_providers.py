"""Routing by model id, failover to fallback models, prompt caching, effort and speed (DESIGN.md §6)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from activities.model.scripted import plan_reply
from activities.model.scripted_wire import ScriptedReply
from tests.fakes.model_server import FakeModelServer, RecordedRequest
from tests.helpers import make_agent, make_environment, make_session, span_model, user_message, wait_for_idle_events


@pytest.fixture
def answer_by_model(model_server: FakeModelServer) -> Iterator[Callable[[dict[str, ScriptedReply]], None]]:
    """Make the fake answer some models with a fixed reply (an error, say) and every other one as usual."""

    def install(replies: dict[str, ScriptedReply]) -> None:
        model_server.set_default(lambda body: replies.get(str(body.get("model")), None) or plan_reply(body))

    yield install
    model_server.set_default(plan_reply)


def requests_for(model_server: FakeModelServer, marker: str) -> list[RecordedRequest]:
    return [r for r in model_server.requests if marker in str(r.body)]


def test_failover_to_another_provider_after_the_retries(
    client: anthropic.Anthropic, model_server: FakeModelServer, answer_by_model: Any
) -> None:
    answer_by_model({"claude-flaky": ScriptedReply(error_status=529, error_message="always overloaded")})
    session = make_session(client, agent=make_agent(client, model="claude-flaky").id)
    marker = f"failover-one {session.id}"
    client.beta.sessions.events.send(session.id, events=[user_message(marker)])
    events = wait_for_idle_events(client, session.id, 1)
    errors = [e.error for e in events if e.type == "session.error"]
    assert [(e.type, e.retry_status.type) for e in errors] == [("model_overloaded_error", "retrying")] * 3
    assert "failing over to local/backup" in errors[-1].message and "claude-flaky failed 3" in errors[-1].message
    ends = [e for e in events if e.type == "span.model_request_end"]
    assert [(span_model(e), e.is_error) for e in ends] == [("claude-flaky", True)] * 3 + [("local/backup", False)]
    assert [e for e in events if e.type == "agent.message"][0].content[0].text == f"You said: {marker}"
    assert events[-1].stop_reason.type == "end_turn"
    arrived = requests_for(model_server, marker)
    assert [(r.path, r.body["model"]) for r in arrived] == [("/v1/messages", "claude-flaky")] * 3 + [
        ("/v1/chat/completions", "backup")
    ]


def test_failover_walks_the_whole_chain(
    client: anthropic.Anthropic, model_server: FakeModelServer, answer_by_model: Any
) -> None:
    overloaded = ScriptedReply(error_status=503)
    answer_by_model({"claude-flaky-chain": overloaded, "gpt-4o-mini": ScriptedReply(error_status=429, retry_after=0)})
    session = make_session(client, agent=make_agent(client, model="claude-flaky-chain").id)
    client.beta.sessions.events.send(session.id, events=[user_message(f"failover-chain {session.id}")])
    events = wait_for_idle_events(client, session.id, 1, timeout=60)
    answered = [span_model(e) for e in events if e.type == "span.model_request_end" and not e.is_error]
    assert answered == ["local/backup"]
    kinds = [e.error.type for e in events if e.type == "session.error"]
    assert kinds == ["model_overloaded_error"] * 3 + ["model_rate_limited_error"] * 3
    models = [r.body["model"] for r in requests_for(model_server, f"failover-chain {session.id}")]
    assert models == ["claude-flaky-chain"] * 3 + ["gpt-4o-mini"] * 3 + ["backup"]


def test_no_failover_on_a_bad_request(
    client: anthropic.Anthropic, model_server: FakeModelServer, answer_by_model: Any
) -> None:
    answer_by_model({"claude-flaky": ScriptedReply(error_status=400, error_message="bad request")})
    session = make_session(client, agent=make_agent(client, model="claude-flaky").id)
    client.beta.sessions.events.send(session.id, events=[user_message(f"no-failover {session.id}")])
    events = wait_for_idle_events(client, session.id, 1)
    errors = [e.error for e in events if e.type == "session.error"]
    assert [(e.type, e.retry_status.type) for e in errors] == [("model_request_failed_error", "exhausted")]
    assert events[-1].stop_reason.type == "retries_exhausted"
    assert [r.body["model"] for r in requests_for(model_server, f"no-failover {session.id}")] == ["claude-flaky"]


def test_unknown_provider_prefixes_are_rejected(client: anthropic.Anthropic) -> None:
    for model in ("nope/some-model", "openai/", "scripted/x"):
        with pytest.raises(anthropic.BadRequestError) as raised:
            client.beta.agents.create(name="a", model=model)
        assert "unknown provider" in raised.value.message
    agent = make_agent(client, model="openai/gpt-4o-mini")
    with pytest.raises(anthropic.BadRequestError):
        client.beta.agents.update(agent.id, version=1, model="nope/other")
    assert client.beta.agents.retrieve(agent.id).version == 1
    for model in ("claude-sonnet-4-6", "anthropic/claude-opus-4-6", "local/anything", "resp/x", "scripted-echo", "m"):
        assert make_agent(client, model=model).model.id == model
    override = {"type": "agent_with_overrides", "id": agent.id, "model": "nope/x"}
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=override, environment_id=make_environment(client).id)  # type: ignore[arg-type]


def test_effort_is_refused_for_models_that_take_none(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.beta.agents.create(name="a", model={"id": "openai/gpt-4o-mini", "effort": "low"})
    assert "does not take a reasoning effort" in raised.value.message
    assert make_agent(client, model={"id": "openai/gpt-4o-mini", "effort": "high"}).model.effort.type == "high"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-6", {"output_config": {"effort": "low"}, "speed": "fast"}),
        ("openai/o4-mini", {"reasoning_effort": "low", "service_tier": "priority"}),
        ("resp/o4-mini", {"reasoning": {"effort": "low", "summary": "auto"}, "service_tier": "priority"}),
    ],
)
def test_effort_and_speed_reach_the_provider(
    client: anthropic.Anthropic, model_server: FakeModelServer, model: str, expected: dict[str, Any]
) -> None:
    agent = make_agent(client, model={"id": model, "effort": "low", "speed": "fast"})
    session = make_session(client, agent=agent.id)
    client.beta.sessions.events.send(session.id, events=[user_message(f"effort-check {session.id}")])
    wait_for_idle_events(client, session.id, 1)
    body = requests_for(model_server, f"effort-check {session.id}")[-1].body
    assert {key: body.get(key) for key in expected} == expected


def test_default_effort_is_not_sent_to_models_without_one(
    client: anthropic.Anthropic, model_server: FakeModelServer
) -> None:
    for model in ("openai/gpt-4o-mini", "claude-haiku-4-5", "local/qwen-test"):
        session = make_session(client, agent=make_agent(client, model=model).id)
        client.beta.sessions.events.send(session.id, events=[user_message(f"no-effort {session.id}")])
        wait_for_idle_events(client, session.id, 1)
        body = requests_for(model_server, f"no-effort {session.id}")[-1].body
        assert not {"output_config", "reasoning_effort", "reasoning"} & set(body), model


def test_anthropic_prompt_caching_reads_the_history(client: anthropic.Anthropic, model_server: FakeModelServer) -> None:
    # A system prompt of its own: prefixes other sessions wrote are (rightly) read from the cache too.
    system = f"You are terse ({uuid.uuid4()}). " * 10
    agent = make_agent(client, system=system, tools=[{"type": "agent_toolset_20260401"}])
    session = make_session(client, agent=agent.id)
    for turn in range(3):
        client.beta.sessions.events.send(session.id, events=[user_message(f"caching turn {turn} " + "x" * 400)])
        wait_for_idle_events(client, session.id, turn + 1)
    bodies = [r.body for r in requests_for(model_server, system)]
    assert bodies[0]["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert bodies[-1]["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert bodies[-1]["messages"][-3]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    events = list(client.beta.sessions.events.list(session.id))
    spans = [e.model_usage for e in events if e.type == "span.model_request_end"]
    assert spans[0].cache_read_input_tokens == 0 and spans[0].cache_creation_input_tokens > 0
    for later in spans[1:]:
        assert later.cache_read_input_tokens > later.input_tokens, "the history is read from the cache"
    usage = client.beta.sessions.retrieve(session.id).usage
    assert usage.cache_read_input_tokens == sum(s.cache_read_input_tokens for s in spans)
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == sum(s.cache_creation_input_tokens for s in spans)
    assert usage.input_tokens == sum(s.input_tokens for s in spans)
    assert usage.list_cost is not None and usage.list_cost.currency == "USD"


def test_openai_cached_tokens_are_cache_reads(client: anthropic.Anthropic) -> None:
    session = make_session(client, agent=make_agent(client, model="openai/gpt-4o-mini").id)
    for turn in range(2):
        text = f"openai caching {session.id} {turn} " + "y" * 400
        client.beta.sessions.events.send(session.id, events=[user_message(text)])
        wait_for_idle_events(client, session.id, turn + 1)
    spans = [e.model_usage for e in client.beta.sessions.events.list(session.id) if e.type == "span.model_request_end"]
    assert spans[0].cache_read_input_tokens == 0
    assert spans[1].cache_read_input_tokens > 0 and spans[1].input_tokens > 0
