"""Context compaction in a long session against models with a small context window (tests/providers.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from activities.model.compaction import SYSTEM_PROMPT
from activities.model.history import SUMMARY_HEADER
from activities.model.scripted import plan_reply
from activities.model.scripted_wire import ScriptedReply
from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, span_model, user_message, wait_for_idle_events
from tests.providers import TINY_OUTPUT, TINY_WINDOW

TURNS = 10


def _is_summary_request(body: dict[str, Any]) -> bool:
    return SYSTEM_PROMPT[:40] in str(body.get("system"))


@pytest.fixture
def summarizer(model_server: FakeModelServer) -> Iterator[list[str]]:
    """Summary requests get a numbered summary that names the notes it saw; the rest get the usual echo."""
    written: list[str] = []

    def answer(body: dict[str, Any]) -> ScriptedReply:
        if not _is_summary_request(body):
            return plan_reply(body)
        seen = sorted(set(re.findall(r"note-\d+", str(body["messages"]))), key=lambda note: int(note[5:]))
        sessions = sorted(set(re.findall(r"sesn_\w+", str(body["messages"]))))
        written.append(f"SUMMARY-{len(written) + 1} of {' '.join(sessions)}: the user sent {' '.join(seen)}")
        return ScriptedReply(text=written[-1])

    model_server.set_default(answer)
    yield written
    model_server.set_default(plan_reply)


@pytest.mark.parametrize("model", ["local/tiny", "claude-tiny"])
def test_long_session_stays_within_a_small_window(
    client: anthropic.Anthropic, model_server: FakeModelServer, summarizer: list[str], model: str
) -> None:
    wire_model = model.rsplit("/", 1)[-1]
    model_server.context_windows[wire_model] = TINY_WINDOW  # without compaction the later turns are refused
    session = make_session(client, agent=make_agent(client, model=model).id)
    for turn in range(TURNS):
        text = f"note-{turn} {session.id} " + f"filler words for turn {turn}. " * 25
        client.beta.sessions.events.send(session.id, events=[user_message(text)])
        events = wait_for_idle_events(client, session.id, turn + 1)
        assert events[-1].stop_reason.type == "end_turn", [e.type for e in events[-8:]]
    compactions = [e for e in events if e.type == "agent.thread_context_compacted"]
    assert compactions and summarizer, "the session never compacted"
    ends = [e for e in events if e.type == "span.model_request_end"]
    assert len(ends) == len([e for e in events if e.type == "span.model_request_start"])
    assert all(span_model(e) == model and not e.is_error for e in ends)
    for end in ends:
        usage = end.model_usage
        prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        assert prompt + TINY_OUTPUT <= TINY_WINDOW, "every request fits the window"
    mine = [r.body for r in model_server.requests if session.id in str(r.body)]
    answers = [body for body in mine if not _is_summary_request(body) and body.get("model") == wire_model]
    # A compaction may summarize in several requests (the older part in chunks); its last summary opens the context.
    after = next(index for index, body in enumerate(answers) if SUMMARY_HEADER in str(body))
    assert after > 0, "the first requests carry the whole conversation"
    opened = next(summary for summary in reversed(summarizer) if summary in str(answers[after]))
    assert "note-0 " in opened + " ", "the summary covers the oldest turns"
    last = str(answers[-1])
    assert summarizer[-1] in last and f"note-{TURNS - 1}" in last, "the newest turn and the latest summary remain"
    assert f"note-0 {session.id}" not in last, "the oldest turns live only in the summary"
    assert any(e.model_usage.cache_read_input_tokens > 0 for e in ends), "the cached prefix is read back"
    usage = client.beta.sessions.retrieve(session.id).usage
    assert usage.input_tokens == sum(e.model_usage.input_tokens for e in ends)
