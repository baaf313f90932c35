"""Client-sent session events (API_CONTRACT.md §3.2), validated before anything is written."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(max_length=1_000_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Wire(BaseModel):
    # Unknown keys are ignored (the SDK's ``extra_body``); strict types so "5" is not a number and 5 not a string.
    model_config = ConfigDict(extra="ignore", strict=True)


class Base64Source(_Wire):
    type: Literal["base64"]
    data: Annotated[str, StringConstraints(min_length=1, max_length=30_000_000)]
    media_type: ShortText


class UrlSource(_Wire):
    type: Literal["url"]
    url: Annotated[str, StringConstraints(min_length=1, max_length=8192, pattern=r"^https?://")]


class FileSource(_Wire):
    type: Literal["file"]
    file_id: ShortText


class PlainTextSource(_Wire):
    type: Literal["text"]
    data: Text
    media_type: Literal["text/plain"] = "text/plain"


class TextBlock(_Wire):
    type: Literal["text"]
    text: Text


class ImageBlock(_Wire):
    type: Literal["image"]
    source: Annotated[Base64Source | UrlSource | FileSource, Field(discriminator="type")]


class DocumentBlock(_Wire):
    type: Literal["document"]
    source: Annotated[Base64Source | PlainTextSource | UrlSource | FileSource, Field(discriminator="type")]
    context: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    title: Annotated[str, StringConstraints(max_length=500)] | None = None


class RedactedBlock(_Wire):
    """Server-authored only; a user event carrying one is rejected (API_CONTRACT.md §3.1)."""

    type: Literal["redacted"]


class SearchResultBlock(_Wire):
    type: Literal["search_result"]
    source: Annotated[str, StringConstraints(max_length=8192)]
    title: Annotated[str, StringConstraints(max_length=1000)]
    content: list[TextBlock]
    citations: dict[str, bool] | None = None


MessageBlock = Annotated[TextBlock | ImageBlock | DocumentBlock | RedactedBlock, Field(discriminator="type")]
ResultBlock = Annotated[TextBlock | ImageBlock | DocumentBlock | SearchResultBlock, Field(discriminator="type")]


class UserMessage(_Wire):
    type: Literal["user.message"]
    content: Annotated[list[MessageBlock], Field(min_length=1, max_length=1000)]


class UserInterrupt(_Wire):
    type: Literal["user.interrupt"]
    session_thread_id: ShortText | None = None


class UserToolConfirmation(_Wire):
    type: Literal["user.tool_confirmation"]
    tool_use_id: ShortText
    result: Literal["allow", "deny"]
    deny_message: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class UserCustomToolResult(_Wire):
    type: Literal["user.custom_tool_result"]
    custom_tool_use_id: ShortText
    content: Annotated[list[ResultBlock], Field(max_length=1000)] | None = None
    is_error: bool | None = None


class UserToolResult(_Wire):
    type: Literal["user.tool_result"]
    tool_use_id: ShortText
    content: Annotated[list[ResultBlock], Field(max_length=1000)] | None = None
    is_error: bool | None = None


class TextRubric(_Wire):
    type: Literal["text"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=262_144)]


class FileRubric(_Wire):
    type: Literal["file"]
    file_id: ShortText


class UserDefineOutcome(_Wire):
    type: Literal["user.define_outcome"]
    description: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    rubric: Annotated[TextRubric | FileRubric, Field(discriminator="type")]
    max_iterations: Annotated[int, Field(ge=1, le=20)] | None = None


class SystemMessage(_Wire):
    type: Literal["system.message"]
    content: Annotated[list[TextBlock], Field(min_length=1, max_length=1000)]


UserEvent = Annotated[
    UserMessage
    | UserInterrupt
    | UserToolConfirmation
    | UserCustomToolResult
    | UserToolResult
    | UserDefineOutcome
    | SystemMessage,
    Field(discriminator="type"),
]
InitialEvent = Annotated[UserMessage | UserDefineOutcome, Field(discriminator="type")]


class SendEvents(_Wire):
    """Body of ``POST /v1/sessions/{id}/events``."""

    events: Annotated[list[UserEvent], Field(min_length=1, max_length=100)]


def event_body(event: BaseModel) -> dict[str, Any]:
    """The stored body of a client event: its fields without ``type`` and without unset optionals."""
    return event.model_dump(mode="json", exclude={"type"}, exclude_none=True)


def has_redacted_block(event: BaseModel) -> bool:
    """Whether a user message carries a ``redacted`` block (only the server may author those)."""
    return isinstance(event, UserMessage) and any(isinstance(block, RedactedBlock) for block in event.content)
