"""MCP pieces without a network: result mapping and caps, the names the model sees, permission policies."""

from __future__ import annotations

from typing import Any

from mcp_types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)

from activities.mcp.catalog import MAX_NAME, _model_name  # pyright: ignore[reportPrivateUsage]
from activities.mcp.content import MAX_BINARY_CHARS, outcome_of
from activities.permissions import evaluate_mcp, mcp_tool_enabled
from activities.tools.outcome import MODEL_TEXT_CHARS


def test_long_text_is_capped_for_the_model_and_kept_whole() -> None:
    text = "x" * (MODEL_TEXT_CHARS * 3)
    outcome = outcome_of(CallToolResult(content=[TextContent(text=text)]))
    shown = outcome.content[0]["text"]
    assert len(shown) < MODEL_TEXT_CHARS + 200 and "characters omitted" in shown
    assert outcome.full_text == text and outcome.is_error is False


def test_every_content_kind_maps_onto_an_event_block() -> None:
    pdf = BlobResourceContents(uri="file://a.pdf", mime_type="application/pdf", blob="JVBERi0=")
    blob = BlobResourceContents(uri="file://a.bin", mime_type="application/octet-stream", blob="AAAA")
    huge = ImageContent(data="A" * (MAX_BINARY_CHARS + 4), mime_type="image/png")
    result = CallToolResult(
        content=[
            AudioContent(data="AAAA", mime_type="audio/wav"),
            ResourceLink(uri="https://example.com/r", name="r"),
            EmbeddedResource(resource=pdf),
            EmbeddedResource(resource=blob),
            huge,
        ],
        is_error=True,
    )
    blocks = outcome_of(result).content
    assert [b["type"] for b in blocks] == ["text", "text", "document", "text", "text"]
    assert "audio" in blocks[0]["text"] and "https://example.com/r" in blocks[1]["text"]
    assert blocks[2]["source"] == {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    assert "omitted" in blocks[4]["text"], "an image too large for the model is replaced by a note"
    assert outcome_of(result).is_error is True


def test_structured_content_alone_becomes_json_text() -> None:
    outcome = outcome_of(CallToolResult(content=[], structured_content={"sum": 3}))
    assert outcome.content == [{"type": "text", "text": '{"sum": 3}'}]
    assert outcome_of(CallToolResult(content=[])).content == [{"type": "text", "text": "(no output)"}]


def test_model_names_are_safe_unique_and_stable() -> None:
    taken = {"bash", "mcp__docs__echo"}
    assert _model_name("docs", "echo", set(taken)) == "mcp__docs__echo_2", "a custom tool already has the name"
    assert _model_name("my docs!", "a.b/c", set()) == "mcp__my_docs___a_b_c"
    long_a = _model_name("s" * 80, "t", set())
    long_b = _model_name("s" * 80, "u", set())
    assert len(long_a) <= MAX_NAME and len(long_b) <= MAX_NAME and long_a != long_b
    assert _model_name("s" * 80, "t", set()) == long_a


def agent_with(toolset: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"type": "mcp_toolset", "mcp_server_name": "docs", **toolset}]}


def test_mcp_policies() -> None:
    bare = agent_with({})
    assert evaluate_mcp(bare, "docs", "x").verdict == "ask", "MCP tools ask unless told otherwise"
    assert evaluate_mcp(bare, "other", "x").verdict == "deny" and evaluate_mcp(bare, "other", "x").evaluation is None
    auto = agent_with({"default_config": {"enabled": True, "permission_policy": {"type": "auto"}}})
    assert evaluate_mcp(auto, "docs", "read").evaluation == {
        "type": "auto",
        "evaluated_permission": {"type": "ask", "reason_code": "indeterminate"},
    }, "auto never trusts a server's own hints"
    mixed = agent_with(
        {
            "default_config": {"enabled": False, "permission_policy": {"type": "always_ask"}},
            "configs": [{"name": "echo", "enabled": True, "permission_policy": {"type": "always_allow"}}],
        }
    )
    assert evaluate_mcp(mixed, "docs", "echo").verdict == "allow"
    assert evaluate_mcp(mixed, "docs", "fail").verdict == "deny"
    assert mcp_tool_enabled(mixed, "docs", "echo") and not mcp_tool_enabled(mixed, "docs", "fail")
