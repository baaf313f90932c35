"""The built-in toolset end to end through sessions, on both sandbox backends (bwrap and Docker)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.fakes.model_server import FakeModelServer
from tests.helpers import make_agent, make_session, user_message, wait_for_idle_events
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

TOOLSET = [{"type": "agent_toolset_20260401"}]


@pytest.fixture(scope="session", params=["bwrap", "docker"])
def sandbox_client(
    request: pytest.FixtureRequest, stack: Stack, temporal_server: TemporalDevServer, model_server: FakeModelServer
) -> Iterator[anthropic.Anthropic]:
    """A client of a stack whose worker runs sandboxes on the given backend (bwrap reuses the main stack)."""
    if request.param == "bwrap":
        with anthropic.Anthropic(api_key=API_KEY, base_url=stack.base_url, _strict_response_validation=True) as sdk:
            yield sdk
        return
    directory = traversable_dir("dma-docker-stack-")
    running = Stack(
        stack.database_url,
        temporal_server.address,
        model_server.url,
        directory,
        worker_overrides={"sandbox_backend": "docker"},
    ).start()
    try:
        with anthropic.Anthropic(api_key=API_KEY, base_url=running.base_url, _strict_response_validation=True) as sdk:
            yield sdk
    finally:
        running.stop()
        shutil.rmtree(directory, ignore_errors=True)


def call(name: str, tool_input: dict[str, Any]) -> str:
    return f"[[tool:{name} {json.dumps(tool_input)}]]"


class ToolSession:
    """One session driven turn by turn; each turn makes one tool call and returns its result event."""

    def __init__(self, client: anthropic.Anthropic) -> None:
        self.client = client
        self.session = make_session(client, agent=make_agent(client, tools=TOOLSET).id)
        self.turns = 0

    def run(self, name: str, tool_input: dict[str, Any]) -> Any:
        self.client.beta.sessions.events.send(self.session.id, events=[user_message(call(name, tool_input))])
        self.turns += 1
        events = wait_for_idle_events(self.client, self.session.id, self.turns, timeout=60)
        results = [e for e in events if e.type == "agent.tool_result"]
        assert len(results) == self.turns
        return results[-1]


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


def test_every_tool_through_a_session(sandbox_client: anthropic.Anthropic) -> None:
    tools = ToolSession(sandbox_client)
    assert not tools.run("bash", {"command": "mkdir -p src && cd src && export GREETING=hello"}).is_error
    shell = tools.run("bash", {"command": "pwd; echo $GREETING"})
    assert text_of(shell).split() == ["/workspace/src", "hello"], "cwd and env persist across turns"
    assert not tools.run("write", {"file_path": "src/app.py", "content": "print('one')\nprint('two')\n"}).is_error
    read = tools.run("read", {"file_path": "src/app.py", "view_range": [2, 2]})
    assert "2" in text_of(read) and "two" in text_of(read) and "one" not in text_of(read)
    edited = tools.run("edit", {"file_path": "src/app.py", "old_string": "one", "new_string": "uno"})
    assert not edited.is_error
    ambiguous = tools.run("edit", {"file_path": "src/app.py", "old_string": "print", "new_string": "p"})
    assert ambiguous.is_error
    assert "src/app.py" in text_of(tools.run("glob", {"pattern": "**/*.py"}))
    assert "uno" in text_of(tools.run("grep", {"pattern": "uno"}))
    ran = tools.run("bash", {"command": "python3 app.py"})  # the shell is still in src/
    assert text_of(ran).split() == ["uno", "two"]
    restarted = tools.run("bash", {"restart": True})
    assert not restarted.is_error
    assert text_of(tools.run("bash", {"command": "pwd"})).strip() == "/workspace"
    timed_out = tools.run("bash", {"command": "sleep 30", "timeout_ms": 500})
    assert timed_out.is_error
    fetched = tools.run("web_fetch", {"url": "http://127.0.0.1:1/secret"})
    assert fetched.is_error and "127.0.0.1" in text_of(fetched)
    searched = tools.run("web_search", {"query": "dma"})
    assert searched.is_error and "search" in text_of(searched).lower()


def test_calls_of_one_response_keep_the_models_order(sandbox_client: anthropic.Anthropic) -> None:
    """Issue 8 fix 4: write then read of one file in one response used to race (the read could run first)."""
    session = make_session(sandbox_client, agent=make_agent(sandbox_client, tools=TOOLSET).id)
    for turn in range(1, 21):
        content = f"version {turn}"
        text = " ".join(
            [
                call("write", {"file_path": "note.txt", "content": content}),
                call("read", {"file_path": "note.txt"}),
                call("bash", {"command": "cat note.txt"}),
                call("glob", {"pattern": "*.txt"}),
            ]
        )
        sandbox_client.beta.sessions.events.send(session.id, events=[user_message(text)])
        events = wait_for_idle_events(sandbox_client, session.id, turn, timeout=60)
        uses = [e for e in events if e.type == "agent.tool_use"][-4:]
        results = [e for e in events if e.type == "agent.tool_result"][-4:]
        assert [r.tool_use_id for r in results] == [u.id for u in uses], "results follow the model's order"
        assert not results[0].is_error
        assert content in text_of(results[1]), f"turn {turn}: read ran before write"
        assert text_of(results[2]).strip() == content
        assert "note.txt" in text_of(results[3])
