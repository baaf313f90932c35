"""What a tool call produced: a model-sized text, the fuller text kept in the event row, and the error flag."""

from __future__ import annotations

from dataclasses import dataclass

MODEL_TEXT_CHARS = 30_000
FULL_TEXT_CHARS = 1024 * 1024


def _clip_for_model(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # Head and tail: a command's first lines say what it did, its last lines usually say how it ended.
    head, tail = text[: limit * 2 // 3], text[-(limit // 3) :]
    omitted = len(text) - len(head) - len(tail)
    return f"{head}\n\n[... {omitted} characters omitted: the output had {len(text)} characters ...]\n\n{tail}"


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one tool call.

    Attributes:
        text_for_model: What goes into the ``agent.tool_result`` content (and so to the model): at most about
            ``MODEL_TEXT_CHARS`` characters, with a note where it was cut.
        full_text: The whole result up to ``FULL_TEXT_CHARS``, kept in the event row's private ``extra``.
        is_error: Whether the call failed (shown to the model as ``is_error``).
    """

    text_for_model: str
    full_text: str
    is_error: bool

    @classmethod
    def of(cls, text: str, is_error: bool = False, model_chars: int = MODEL_TEXT_CHARS) -> ToolOutcome:
        """An outcome from the full result text, clipped for the model and capped for storage."""
        full = text
        if len(text) > FULL_TEXT_CHARS:
            # Keep the end too: that is where the notes about truncation, timeouts and exit codes are.
            full = f"{text[: FULL_TEXT_CHARS - 2048]}\n[... truncated to 1 MiB ...]\n{text[-2048:]}"
        return cls(_clip_for_model(full, model_chars), full, is_error)

    @classmethod
    def error(cls, message: str) -> ToolOutcome:
        """A failed call with a message for the model."""
        return cls.of(message, is_error=True)

    @property
    def truncated(self) -> bool:
        return self.text_for_model != self.full_text
