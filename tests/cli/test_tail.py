"""``dma sessions tail``: a live, coloured stream of a session, the reply shown as it streams (deltas)."""

from __future__ import annotations

import time

import anthropic
import pexpect

from tests.cli.conftest import Cli
from tests.helpers import make_environment, user_message


def test_tail_shows_a_reply_while_it_streams(cli: Cli, client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="tail", model="scripted")
    session = client.beta.sessions.create(agent=agent.id, environment_id=make_environment(client).id)
    client.beta.sessions.events.send(session.id, events=[user_message("before tail")])  # pyright: ignore[reportArgumentType]
    child = cli.spawn("sessions", "tail", session.id)
    try:
        child.expect("You said: before tail")  # history first
        child.expect(f"following {session.id}")
        client.beta.sessions.events.send(session.id, events=[user_message("[[slow:6]] streaming now")])  # pyright: ignore[reportArgumentType]
        child.expect("you ›.*streaming now")
        child.expect(r"agent ›.*You said")
        # The first words are on screen while the reply is still being written: nothing persisted it yet.
        persisted = client.beta.sessions.events.list(session.id, types=["agent.message"], limit=100)
        assert [event.type for event in persisted.data] == ["agent.message"], "only the earlier turn's reply"
        child.expect("streaming now", timeout=20)
        child.expect(r"idle \(end_turn\)", timeout=20)
        assert "\x1b[" in str(child.before) or "\x1b[" in str(child.after), "a terminal gets colours"
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_sessions_list_filters_and_show(cli: Cli, client: anthropic.Anthropic) -> None:
    agent = client.beta.agents.create(name="listed", model="scripted")
    session = client.beta.sessions.create(agent=agent.id, environment_id=make_environment(client).id, title="Listed")
    client.beta.sessions.events.send(session.id, events=[user_message("count me")])  # pyright: ignore[reportArgumentType]
    deadline = time.monotonic() + 30
    while not client.beta.sessions.events.list(session.id, types=["session.status_idle"]).data:
        assert time.monotonic() < deadline, "the turn did not end"
        time.sleep(0.1)
    shown = cli.run("sessions", "show", session.id).stdout
    assert "Listed" in shown and "You said: count me" in shown and "usage:" in shown
    assert session.id in cli.run("sessions", "list", "--status", "idle", "--agent", agent.id).stdout
    assert session.id not in cli.run("sessions", "list", "--status", "running", "--limit", "100").stdout
    refused = cli.run("sessions", "list", "--status", "sleeping", ok=False)
    assert refused.returncode == 1 and "statuses[] must be one of" in refused.stderr
