"""The small pydantic types that cross Temporal. They carry ids and counters, never the conversation (DESIGN.md §2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

StopReason = Literal["end_turn", "requires_action", "retries_exhausted", "refusal", "budget_reached"]
ToolKind = Literal["builtin", "custom", "mcp"]
SessionStatus = Literal["idle", "running", "rescheduling", "terminated"]


class SessionCarry(BaseModel):
    """Control state carried across continue-as-new."""

    step: int = 0
    inbox: list[str] = Field(default_factory=list[str])
    turns: int = 0


class SessionStart(BaseModel):
    """Input of ``SessionWorkflow.run``."""

    session_id: str
    agent_id: str
    continue_as_new_after_turns: int = 200
    model_max_attempts: int = 5
    carry: SessionCarry = Field(default_factory=SessionCarry)


class Delivery(BaseModel):
    """Signal payload: ids of user events the API has just persisted, in order."""

    message_ids: list[str] = Field(default_factory=list[str])


class Shutdown(BaseModel):
    """Signal payload: the session was archived or deleted; the workflow ends."""

    reason: Literal["archived", "deleted"]


class ModelStepRequest(BaseModel):
    """One model request. ``mark_processed`` is non-empty on a turn's first step: those user events start it."""

    session_id: str
    step: int
    mark_processed: list[str] = Field(default_factory=list[str])
    max_attempts: int = 5


class ToolUseRef(BaseModel):
    """A tool call the model asked for; its input stays in the event log."""

    event_id: str
    name: str
    kind: ToolKind = "builtin"


class ModelStepReply(BaseModel):
    """What the workflow needs to decide the next step. ``finished`` means the activity already ended the turn."""

    stop_reason: str
    tool_uses: list[ToolUseRef] = Field(default_factory=list[ToolUseRef])
    finished: bool = False


class ToolBatchRequest(BaseModel):
    """Run these tool calls (concurrently where possible) and record their results."""

    session_id: str
    step: int
    tool_uses: list[ToolUseRef]


class FinishTurnRequest(BaseModel):
    """End a turn the model could not finish itself: an error, an interrupt, or exhausted retries."""

    session_id: str
    step: int
    stop_reason: StopReason
    error_type: str | None = None
    error_message: str | None = None
    drop_event_ids: list[str] = Field(default_factory=list[str])
