"""Sessions through the official SDK in strict mode: API_CONTRACT.md §6 scenarios 9 and 18–21, plus the loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anthropic
import pytest

from tests.fakes.model_server import FakeModelServer
from tests.helpers import (
    WIRE_PATHS,
    make_agent,
    make_environment,
    make_session,
    span_model,
    until_idle,
    user_message,
    wait_for_idle_events,
)
from tests.providers import LOCAL_KEY


def test_create_session_is_idle_snapshot(client: anthropic.Anthropic) -> None:
    agent = make_agent(client, system="be brief")
    session = make_session(client, agent=agent.id, title="first")
    assert session.id.startswith("sesn_")
    assert session.status == "idle"
    assert session.agent.id == agent.id and session.agent.version == 1
    assert session.agent.system == "be brief"
    assert session.usage is not None and session.stats is not None
    assert session.resources == [] and session.vault_ids == [] and session.outcome_evaluations == []
    assert session.metadata == {}
    client.beta.agents.update(agent.id, version=1, system="changed")
    assert client.beta.sessions.retrieve(session.id).agent.system == "be brief"


def test_session_with_overrides_keeps_base_identity(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    session = client.beta.sessions.create(
        agent={"type": "agent_with_overrides", "id": agent.id, "system": "override", "model": "claude-opus-4-6"},
        environment_id=env.id,
    )
    assert session.agent.id == agent.id and session.agent.version == 1
    assert session.agent.system == "override" and session.agent.model.id == "claude-opus-4-6"


def test_create_rejects_archived_agent_and_unknown_environment(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    client.beta.agents.archive(agent.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent=make_agent(client).id, environment_id="env_doesnotexist")


def test_send_and_stream_a_turn(
    client: anthropic.Anthropic, model_server: FakeModelServer, scenario_model: str
) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    with client.beta.sessions.events.stream(session.id) as stream:
        sent = client.beta.sessions.events.send(session.id, events=[user_message("hi")])
        events = until_idle(stream)
    assert sent.data[0].type == "user.message" and sent.data[0].id.startswith("sevt_")
    assert [e.type for e in events] == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.usage",
        "session.status_idle",
    ]
    assert events[0].id == sent.data[0].id
    assert events[3].content[0].text == "You said: hi"
    assert events[4].model_request_start_id == events[2].id
    assert span_model(events[2]) == span_model(events[4]) == scenario_model
    assert events[-1].stop_reason.type == "end_turn"
    path, wire_model = WIRE_PATHS[scenario_model]
    arrived = [r for r in model_server.requests if "hi" in str(r.body) and r.body.get("model") == wire_model]
    assert arrived and arrived[-1].path == path
    if scenario_model.startswith("local/"):
        assert arrived[-1].headers["authorization"] == f"Bearer {LOCAL_KEY}", "the key comes from its variable"
    usage, span = events[5].usage, events[4].model_usage
    assert span.input_tokens + span.cache_read_input_tokens + span.cache_creation_input_tokens > 0
    assert (usage.input_tokens, usage.output_tokens) == (span.input_tokens, span.output_tokens)
    assert span.output_tokens > 0
    after = client.beta.sessions.retrieve(session.id)
    assert after.status == "idle"
    assert after.stats.active_seconds is not None and 0 < after.stats.active_seconds < 10
    assert after.stats.duration_seconds is not None and after.stats.duration_seconds >= after.stats.active_seconds


def test_stream_with_deltas(client: anthropic.Anthropic, scenario_model: str) -> None:
    session = make_session(client, agent=make_agent(client, model=scenario_model).id)
    with client.beta.sessions.events.stream(session.id, event_deltas=["agent.message"]) as stream:
        client.beta.sessions.events.send(session.id, events=[user_message("[[long:40]] tell me a story")])
        events = until_idle(stream)
    types = [e.type for e in events]
    start = types.index("event_start")
    message = events[types.index("agent.message")]
    deltas = [e for e in events if e.type == "event_delta"]
    assert deltas and start < types.index("event_delta") < types.index("agent.message")
    assert events[start].event.id == message.id
    assert all(d.event_id == message.id for d in deltas)
    joined = "".join(d.delta.content.text for d in deltas)
    assert joined and message.content[0].text.startswith(joined)
    listed = [e.type for e in client.beta.sessions.events.list(session.id)]
    assert "event_start" not in listed and "event_delta" not in listed


def test_stream_rejects_bad_event_deltas(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.events.stream(session.id, event_deltas=["agent.tool_use"])  # type: ignore[list-item]


def test_second_turn_context_comes_from_the_log(client: anthropic.Anthropic, model_server: FakeModelServer) -> None:
    session = make_session(client, agent=make_agent(client, system="sys-prompt").id)
    client.beta.sessions.events.send(session.id, events=[user_message("first question")])
    wait_for_idle_events(client, session.id, 1)
    client.beta.sessions.events.send(session.id, events=[user_message("second question")])
    wait_for_idle_events(client, session.id, 2)
    bodies = [r.body for r in model_server.requests if "second question" in str(r.body.get("messages"))]
    assert bodies, "the model never saw the second turn"
    messages = bodies[-1]["messages"]
    assert [block["text"] for block in bodies[-1]["system"]] == ["sys-prompt"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"][0]["text"] == "first question"
    assert messages[1]["content"][0]["text"] == "You said: first question"


def test_message_during_turn_queues_next_turn_and_list_filters(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    first = client.beta.sessions.events.send(session.id, events=[user_message("[[slow:1]] one")]).data[0]
    second = client.beta.sessions.events.send(session.id, events=[user_message("two")]).data[0]
    assert first.processed_at is None and second.processed_at is None
    events = wait_for_idle_events(client, session.id, 2)
    user_ids = [e.id for e in events if e.type == "user.message"]
    assert user_ids == [first.id, second.id]
    stamps = [e.processed_at for e in events]
    assert stamps == sorted(stamps)
    only_messages = list(client.beta.sessions.events.list(session.id, types=["agent.message"]))
    assert len(only_messages) == 2 and all(e.type == "agent.message" for e in only_messages)
    backwards = list(client.beta.sessions.events.list(session.id, order="desc"))
    assert [e.id for e in backwards] == [e.id for e in reversed(events)]
    cut = events[len(events) // 2].processed_at
    later = list(client.beta.sessions.events.list(session.id, created_at_gte=cut))
    assert later and all(e.processed_at >= cut for e in later)
    future = datetime.now(UTC) + timedelta(days=1)
    assert list(client.beta.sessions.events.list(session.id, created_at_gte=future)) == []


def test_event_list_pages(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[user_message("a")])
    events = wait_for_idle_events(client, session.id, 1)
    paged = list(client.beta.sessions.events.list(session.id, limit=2))
    assert [e.id for e in paged] == [e.id for e in events]


def test_update_title_and_metadata(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    with client.beta.sessions.events.stream(session.id) as stream:
        updated = client.beta.sessions.update(session.id, title="t", metadata={"k": "v"})
        assert updated.title == "t" and updated.metadata == {"k": "v"}
        cleared = client.beta.sessions.update(session.id, metadata={"k": None})
        assert cleared.metadata == {}
        first = next(iter(stream))
        assert first.type == "session.updated"
        assert first.title == "t" and first.metadata == {"k": "v"} and first.agent is None
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(session.id, vault_ids=["vlt_x"])


def test_archive_running_then_idle(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    client.beta.sessions.events.send(session.id, events=[user_message("[[slow:2]] hi")])
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.archive(session.id)
    wait_for_idle_events(client, session.id, 1)
    with client.beta.sessions.events.stream(session.id) as stream:
        archived = client.beta.sessions.archive(session.id)
        assert [e.type for e in stream] == ["session.status_terminated"]  # the stream ends after it
    assert archived.archived_at is not None and archived.status == "terminated"
    assert "session.status_terminated" in [e.type for e in client.beta.sessions.events.list(session.id)]
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.events.send(session.id, events=[user_message("again")])
    assert session.id not in [s.id for s in client.beta.sessions.list(agent_id=session.agent.id)]
    assert session.id in [s.id for s in client.beta.sessions.list(agent_id=session.agent.id, include_archived=True)]


def test_delete_closes_open_stream(client: anthropic.Anthropic) -> None:
    session = make_session(client)
    with client.beta.sessions.events.stream(session.id) as stream:
        deleted = client.beta.sessions.delete(session.id)
        events = list(stream)
    assert deleted.id == session.id and deleted.type == "session_deleted"
    assert [e.type for e in events] == ["session.deleted"]
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.retrieve(session.id)


def test_list_sessions_filters_and_pages(client: anthropic.Anthropic) -> None:
    agent = make_agent(client)
    env = make_environment(client)
    ids = [client.beta.sessions.create(agent=agent.id, environment_id=env.id).id for _ in range(3)]
    listed = [s.id for s in client.beta.sessions.list(agent_id=agent.id, limit=2)]
    assert listed == list(reversed(ids))
    ascending = [s.id for s in client.beta.sessions.list(agent_id=agent.id, order="asc", limit=2)]
    assert ascending == ids
    assert [s.id for s in client.beta.sessions.list(agent_id=agent.id, statuses=["running"])] == []
    first_page = client.beta.sessions.list(agent_id=agent.id, limit=2)
    assert first_page.next_page is not None
    second = client.beta.sessions.list(agent_id=agent.id, limit=2, page=first_page.next_page)
    assert [s.id for s in second.data] == [ids[0]] and second.next_page is None
    assert second.prev_page is not None
    back = client.beta.sessions.list(agent_id=agent.id, limit=2, page=second.prev_page)
    assert [s.id for s in back.data] == [ids[2], ids[1]]
