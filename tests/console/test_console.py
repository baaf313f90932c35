"""The web console in a real headless Chromium, driving a real stack with the scripted model.

Each test does what a person would: sign in, create an agent, start a session, send a message and watch the reply
stream, allow and deny tool calls, interrupt a slow turn, follow the link to the Temporal Web UI, compare agent
versions, manage API keys. The tests run in file order on one stack (the first sees it empty).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
from playwright.sync_api import Page, expect

from tests.stack import API_KEY, Stack

ROOT = Path(__file__).resolve().parents[2]
ASK_BASH = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
Shoot = Callable[[str], Path]


def sign_in(page: Page, stack: Stack, path: str = "") -> None:
    """Open the console with the key in the URL fragment (how ``dma dev`` links it; never sent to a server)."""
    page.goto(f"{stack.base_url}/console/{path}#key={API_KEY}")
    expect(page.locator(".sidebar")).to_be_visible()
    assert "key=" not in page.url, "the key leaves the address bar at once"


def session_with(sdk: anthropic.Anthropic, tools: list[dict[str, object]] | None = None) -> str:
    agent = sdk.beta.agents.create(name=f"agent-{uuid.uuid4().hex[:6]}", model="scripted", tools=tools or [])  # pyright: ignore[reportArgumentType]
    environment = sdk.beta.environments.create(name="browser")
    return sdk.beta.sessions.create(agent=agent.id, environment_id=environment.id, title="Browser test").id


def send(page: Page, text: str) -> None:
    box = page.locator("textarea[name=message]")
    box.fill(text)
    box.press("Enter")


def test_sign_in_and_empty_states(page: Page, console_stack: Stack, shoot: Shoot) -> None:
    page.goto(f"{console_stack.base_url}/console/")
    expect(page.get_by_role("heading", name="Connect to this server")).to_be_visible()
    page.fill("input[name=api-key]", "not-a-key")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid API key")
    shoot("01-sign-in")
    page.fill("input[name=api-key]", API_KEY)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="No sessions yet")).to_be_visible()
    assert page.url.endswith("/console/sessions")
    page.get_by_role("link", name="Agents").click()
    expect(page.get_by_role("heading", name="No agents yet")).to_be_visible()
    shoot("02-no-agents")
    page.reload()  # the key lives in this tab's session storage: a reload stays signed in
    expect(page.get_by_role("heading", name="No agents yet")).to_be_visible()


def test_create_an_agent_start_a_session_and_watch_the_reply_stream(
    page: Page, console_stack: Stack, sdk: anthropic.Anthropic, shoot: Shoot
) -> None:
    sign_in(page, console_stack, "agents")
    page.get_by_role("button", name="New agent").click()
    page.fill("input[name=name]", "console-demo")
    page.fill("input[name=model]", "scripted")
    page.fill("textarea[name=system]", "You are a helpful assistant.")
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/console/agents/agent_\w+$"))
    expect(page.get_by_role("heading", name="console-demo")).to_be_visible()

    page.get_by_role("button", name="Start a session").click()
    page.get_by_role("button", name="Start session").click()
    expect(page).to_have_url(re.compile(r"/console/sessions/sesn_\w+$"))
    expect(page.get_by_test_id("stream-state")).to_have_text(re.compile("Live"))
    session_id = page.url.rsplit("/", 1)[1]

    send(page, "[[slow:4]] hello from the browser")
    live = page.get_by_test_id("live-reply")
    expect(live).to_contain_text("You said", timeout=15_000)
    # The reply is on screen while the model still writes it: nothing has persisted it yet.
    assert page.get_by_test_id("agent-message").count() == 0
    stored = sdk.beta.sessions.events.list(session_id, types=["agent.message"])
    assert stored.data == []
    shoot("03-streaming")
    expect(page.get_by_test_id("agent-message")).to_have_text(
        re.compile("You said: hello from the browser"), timeout=20_000
    )
    expect(live).to_have_count(0)
    expect(page.get_by_test_id("status")).to_have_text("Idle")
    expect(page.get_by_test_id("usage")).to_contain_text(re.compile(r"Input tokens\s*[1-9]"))
    expect(page.get_by_test_id("cost")).to_contain_text("$0.00")
    shoot("04-reply")


def test_allow_and_deny_tool_calls(page: Page, console_stack: Stack, sdk: anthropic.Anthropic, shoot: Shoot) -> None:
    sign_in(page, console_stack, "agents/new")
    page.fill("input[name=name]", "careful")
    page.fill("input[name=model]", "scripted")
    page.select_option("select[name=tools]", "ask")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="careful")).to_be_visible()
    agent_id = page.url.rsplit("/", 1)[1]
    assert sdk.beta.agents.retrieve(agent_id).tools[0].default_config.permission_policy.type == "always_ask"  # pyright: ignore[reportAttributeAccessIssue, reportOptionalMemberAccess, reportUnknownMemberType]
    page.get_by_role("button", name="Start a session").click()
    page.fill("input[name=title]", "Deploy the docs")
    page.get_by_role("button", name="Start session").click()
    expect(page.get_by_role("heading", name="Deploy the docs")).to_be_visible()

    send(page, "Check the docs build first.")
    expect(page.get_by_test_id("agent-message")).to_have_text("You said: Check the docs build first.")
    send(page, '[[tool:bash {"command": "echo docs built: $((40+2)) pages"}]] build the docs')
    pending = page.get_by_test_id("pending-tool")
    expect(pending).to_contain_text("echo docs built", timeout=15_000)
    expect(page.get_by_test_id("status")).to_have_text("Waiting for you")
    shoot("05-confirmation")
    pending.get_by_role("button", name="Allow").click()
    expect(page.get_by_test_id("tool-output").first).to_have_text("docs built: 42 pages", timeout=20_000)
    expect(page.get_by_test_id("agent-message").last).to_have_text("Tool bash returned: docs built: 42 pages")

    send(page, '[[tool:bash {"command": "rm -rf ./site"}]] and clean up')
    pending = page.get_by_test_id("pending-tool")
    expect(pending).to_contain_text("rm -rf ./site", timeout=15_000)
    pending.get_by_role("button", name="Deny").click()
    denied = page.get_by_test_id("tool").last
    expect(denied).to_contain_text("denied", timeout=20_000)
    expect(denied.get_by_test_id("tool-output")).to_contain_text("denied")
    expect(page.get_by_test_id("status")).to_have_text("Idle", timeout=20_000)
    page.set_viewport_size({"width": 1360, "height": 1200})  # the whole conversation, for the README
    page.get_by_test_id("conversation").evaluate("element => element.scrollTo(0, element.scrollHeight)")
    picture = shoot("06-allowed-and-denied")
    if os.environ.get("DMA_UPDATE_SCREENSHOT") == "1":
        shutil.copy(picture, ROOT / "docs" / "console.png")

    session_id = page.url.rsplit("/", 1)[1]
    answers = [e.result for e in sdk.beta.sessions.events.list(session_id) if e.type == "user.tool_confirmation"]
    assert answers == ["allow", "deny"]


def test_interrupt_a_slow_turn(page: Page, console_stack: Stack, sdk: anthropic.Anthropic, shoot: Shoot) -> None:
    session_id = session_with(sdk)
    sign_in(page, console_stack, f"sessions/{session_id}")
    expect(page.get_by_test_id("stream-state")).to_have_text(re.compile("Live"))
    send(page, "[[slow:40]] tell me a very long story")
    expect(page.get_by_test_id("live-reply")).to_contain_text("You said", timeout=15_000)
    expect(page.get_by_test_id("status")).to_have_text("Running")
    page.get_by_test_id("interrupt").click()
    expect(page.get_by_text("Interrupted", exact=True)).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("status")).to_have_text("Idle", timeout=15_000)
    expect(page.get_by_test_id("live-reply")).to_have_count(0)
    shoot("07-interrupted")
    events = list(sdk.beta.sessions.events.list(session_id))
    assert "user.interrupt" in [event.type for event in events]
    assert not [event for event in events if event.type == "agent.message"], "the interrupted reply never completed"


def test_follow_the_link_to_the_temporal_web_ui(
    page: Page, console_stack: Stack, sdk: anthropic.Anthropic, shoot: Shoot
) -> None:
    session_id = session_with(sdk)
    sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]
    )
    sign_in(page, console_stack, f"sessions/{session_id}")
    expect(page.get_by_test_id("agent-message")).to_have_text("You said: hi", timeout=20_000)
    link = page.get_by_test_id("temporal-link")
    ui = console_stack.api_settings().temporal_ui_url
    assert link.get_attribute("href") == f"{ui}/namespaces/default/workflows/{session_id}"
    with page.expect_popup() as popup_info:
        link.click()
    temporal = popup_info.value
    temporal.wait_for_url(re.compile(rf"/workflows/{session_id}/[0-9a-f-]+/"), timeout=60_000)
    expect(temporal.get_by_text("SessionWorkflow").first).to_be_visible(timeout=60_000)
    expect(temporal.get_by_text(session_id).first).to_be_visible()
    temporal.screenshot(path=str(shoot("08-session").parent / "09-temporal-ui.png"))


def test_edit_an_agent_and_compare_versions(
    page: Page, console_stack: Stack, sdk: anthropic.Anthropic, shoot: Shoot
) -> None:
    agent = sdk.beta.agents.create(name="versioned", model="scripted", system="Answer in English.")
    sign_in(page, console_stack, f"agents/{agent.id}")
    expect(page.locator("textarea[name=system]")).to_have_value("Answer in English.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("saved-note")).to_have_text("Nothing changed.")
    page.fill("textarea[name=system]", "Answer in French.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("saved-note")).to_have_text("Saved as version 2.")
    assert sdk.beta.agents.retrieve(agent.id).version == 2
    page.get_by_role("tab", name=re.compile("Versions")).click()
    diff = page.get_by_test_id("diff")
    expect(diff.locator(".del")).to_contain_text('"system": "Answer in English."')
    expect(diff.locator(".add")).to_contain_text('"system": "Answer in French."')
    expect(diff.locator(".add")).to_have_count(1)
    shoot("10-version-diff")


def test_environments(page: Page, console_stack: Stack, sdk: anthropic.Anthropic) -> None:
    sign_in(page, console_stack, "environments")
    page.get_by_role("button", name="New environment").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=name]").fill("offline-sandbox")
    dialog.locator("select").select_option("none")
    dialog.get_by_role("button", name="Create").click()
    row = page.locator("tr", has_text="offline-sandbox")
    expect(row).to_contain_text("No network")
    stored = [e for e in sdk.beta.environments.list() if e.name == "offline-sandbox"]
    assert len(stored) == 1 and stored[0].config.networking.type == "limited"  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


def test_api_keys(page: Page, console_stack: Stack, shoot: Shoot) -> None:
    sign_in(page, console_stack, "keys")
    page.get_by_role("button", name="Create key").click()
    page.fill("input[name=key-name]", "browser-test")
    page.get_by_role("dialog").get_by_role("button", name="Create").click()
    key = page.get_by_test_id("new-key").inner_text()
    shoot("11-new-key")
    with httpx.Client(base_url=console_stack.base_url) as http:
        assert http.get("/v1/agents", headers={"x-api-key": key}).status_code == 200
        page.get_by_role("button", name="Done").click()
        row = page.locator("tr", has_text="browser-test")
        expect(row).to_contain_text("active")
        assert key not in page.content(), "a key is shown once, never in the list"
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_contain_text("revoked")
        assert http.get("/v1/agents", headers={"x-api-key": key}).status_code == 401


def test_session_list_filters(page: Page, console_stack: Stack, shoot: Shoot) -> None:
    sign_in(page, console_stack, "sessions")
    rows = page.locator("tbody tr")
    expect(rows.first).to_be_visible()
    total = rows.count()
    assert total >= 4
    shoot("12-sessions")
    page.get_by_role("tab", name="Idle").click()
    expect(page).to_have_url(re.compile(r"/console/sessions\?status=idle$"))
    expect(rows).to_have_count(total)  # every session of this module ended its turns
    page.get_by_role("tab", name="Terminated").click()
    expect(page.get_by_role("heading", name="No terminated sessions")).to_be_visible()
    page.goto(f"{console_stack.base_url}/console/no/such/page")
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
