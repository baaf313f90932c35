"""Maps an MCP ``CallToolResult`` onto the content blocks of ``agent.mcp_tool_result``, capped like built-in output.

Text stays text; images stay images (the model sees them); an embedded text resource becomes a plain-text document,
a PDF or image blob a base64 document or image; a resource link and audio become a line saying what they are;
structured content that the server did not also render as text is added as JSON text. Text is cut to the built-in
tools' model limit with the full text kept in the event row, and binary parts over ``MAX_BINARY_CHARS`` are replaced
by a note, so nothing large reaches the model, the event stream or workflow history unannounced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp_types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from activities.tools.outcome import ToolOutcome

Block = dict[str, Any]
# Base64 characters of one image or document (about 3.75 MB decoded), under the Messages API's per-image limit.
MAX_BINARY_CHARS = 5 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class McpOutcome:
    """Blocks for the event (and the model), the full text kept privately when it was cut, and the error flag."""

    content: list[Block]
    full_text: str | None
    is_error: bool


def _resource(block: EmbeddedResource) -> Block:
    resource = block.resource
    uri = str(resource.uri)
    if isinstance(resource, TextResourceContents):
        source = {"type": "text", "media_type": "text/plain", "data": resource.text}
        return {"type": "document", "source": source, "title": uri}
    assert isinstance(resource, BlobResourceContents)
    mime = resource.mime_type or "application/octet-stream"
    if len(resource.blob) > MAX_BINARY_CHARS:
        return {"type": "text", "text": f"[resource {uri} ({mime}) omitted: {len(resource.blob)} base64 characters]"}
    if mime in IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": resource.blob}}
    if mime == "application/pdf":
        source = {"type": "base64", "media_type": mime, "data": resource.blob}
        return {"type": "document", "source": source, "title": uri}
    return {"type": "text", "text": f"[resource {uri} ({mime}, binary) not shown]"}


def _block(block: ContentBlock) -> Block:
    if isinstance(block, TextContent):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageContent):
        if len(block.data) > MAX_BINARY_CHARS or block.mime_type not in IMAGE_TYPES:
            return {"type": "text", "text": f"[image ({block.mime_type}, {len(block.data)} base64 characters) omitted]"}
        return {"type": "image", "source": {"type": "base64", "media_type": block.mime_type, "data": block.data}}
    if isinstance(block, AudioContent):
        return {"type": "text", "text": f"[audio ({block.mime_type}) not shown: this model cannot listen]"}
    if isinstance(block, ResourceLink):
        title = f" ({block.title or block.name})" if (block.title or block.name) else ""
        return {"type": "text", "text": f"[resource link: {block.uri}{title}]"}
    return _resource(block)


def _cap_text(blocks: list[Block]) -> tuple[list[Block], str | None]:
    """Clip the text blocks together to the model's share; the whole text stays in the row when clipped."""
    texts = [block["text"] for block in blocks if block["type"] == "text"]
    whole = "\n".join(texts)
    outcome = ToolOutcome.of(whole)
    if not outcome.truncated:
        return blocks, None
    others = [block for block in blocks if block["type"] != "text"]
    return [{"type": "text", "text": outcome.text_for_model}, *others], outcome.full_text


def outcome_of(result: CallToolResult) -> McpOutcome:
    """The event content of a tool's result (``is_error`` as the server said)."""
    blocks = [_block(block) for block in result.content]
    if result.structured_content is not None and not any(block["type"] == "text" for block in blocks):
        blocks.append({"type": "text", "text": json.dumps(result.structured_content, ensure_ascii=False)})
    if not blocks:
        blocks = [{"type": "text", "text": "(no output)"}]
    capped, full = _cap_text(blocks)
    return McpOutcome(capped, full, bool(result.is_error))


def error_outcome(message: str) -> McpOutcome:
    """A call that produced no result, explained to the model."""
    return McpOutcome([{"type": "text", "text": message}], None, True)
