"""``dma chat`` in a pseudo-terminal: a streamed reply, y/n for a tool call that waits for a person, Ctrl-C."""

from __future__ import annotations

import re
import uuid

import anthropic
import pexpect

from tests.cli.conftest import Cli
from tests.helpers import make_environment

ASK_BASH = [
    {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "permission_policy": {"type": "always_ask"}}]}
]
PROMPT = "you ›"


def careful_agent(client: anthropic.Anthropic) -> str:
    name = f"careful-{uuid.uuid4().hex[:8]}"
    client.beta.agents.create(name=name, model="scripted", tools=ASK_BASH)  # pyright: ignore[reportArgumentType]
    return name


def session_of(child: pexpect.spawn) -> str:
    child.expect(r"session (sesn_\w+)")
    return str(child.match.group(1))


def test_chat_answers_confirmations_and_interrupts(cli: Cli, client: anthropic.Anthropic) -> None:
    agent = careful_agent(client)
    environment = make_environment(client)
    child = cli.spawn("chat", agent, "--environment", environment.id)
    try:
        session_id = session_of(child)
        child.expect(PROMPT)

        child.sendline("hello there")
        child.expect("You said: hello there")
        child.expect(PROMPT)

        child.sendline('[[tool:bash {"command": "echo confirmed-$((6*7))"}]] run it')
        child.expect(r"allow.*bash.*echo confirmed.*\[y/n\]")
        child.sendline("y")
        child.expect("confirmed-42")  # the tool's output, shown under the call
        child.expect("Tool bash returned: confirmed-42")
        child.expect(PROMPT)

        child.sendline('[[tool:bash {"command": "echo never-run"}]] and this')
        child.expect(r"\[y/n\]")
        child.sendline("maybe")
        child.expect("answer y")
        child.sendline("n")
        child.expect("denied bash")
        child.expect("Permission to use bash has been denied")
        child.expect(PROMPT)

        child.sendline("[[slow:30]] a long story")
        child.expect(r"agent ›.*You said")  # the reply streams in; Ctrl-C while it does
        child.sendintr()
        child.expect("interrupting")
        child.expect("interrupted", timeout=15)
        child.expect(PROMPT, timeout=15)

        child.sendeof()
        child.expect(f"dma sessions tail {session_id}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0

    events = list(client.beta.sessions.events.list(session_id, limit=1000))
    kinds = [event.type for event in events]
    answers = [event.result for event in events if event.type == "user.tool_confirmation"]
    assert answers == ["allow", "deny"]
    results = [event for event in events if event.type == "agent.tool_result"]
    assert "confirmed-42" in str(results[0].content) and "denied" in str(results[1].content)
    assert not any("never-run" in str(result.content) for result in results), "a denied call never runs"
    assert "user.interrupt" in kinds
    replies = [event for event in events if event.type == "agent.message"]
    assert not any("a long story" in str(reply.content) for reply in replies), "the interrupted reply never completed"
    assert client.beta.sessions.retrieve(session_id).status == "idle"


def test_chat_needs_an_agent_it_can_find(cli: Cli) -> None:
    child = cli.spawn("chat", f"nobody-{uuid.uuid4().hex[:6]}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert re.search(r"no agent named 'nobody-\w+'", str(child.before))
