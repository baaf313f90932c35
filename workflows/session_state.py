"""The control state a session workflow shares between its parts, and the typed ways a turn is cut short."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError

from workflows.contracts import Answer, SessionCarry, SessionStart

AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SESSION_STATUS = SearchAttributeKey.for_keyword("SessionStatus")
# Ids the workflow processed lately: a redelivered one (the API repeats every still-queued id) is dropped at once.
RECENT_IDS = 64

Closing = Literal["archived", "deleted"]


def status_attributes(agent_id: str, status: str) -> TypedSearchAttributes:
    """The search attributes a session workflow starts with."""
    return TypedSearchAttributes([SearchAttributePair(AGENT_ID, agent_id), SearchAttributePair(SESSION_STATUS, status)])


class Interrupted(Exception):
    """The turn was cut short by ``user.interrupt`` or because the session is going away.

    Attributes:
        close: Tool uses of the turn that must get an error result (cancelled, or never started).
    """

    def __init__(self, close: list[str]) -> None:
        super().__init__(f"turn interrupted; {len(close)} call(s) to close")
        self.close = close


class TurnFailed(Exception):
    """A call failed for good (its MCP server stayed unreachable, or refused the credential): the turn ends.

    Attributes:
        close: Tool uses of the turn that must get an error result (the failed call, and every call after it).
        error: The activity failure, whose cause says the error type and names the MCP server.
    """

    def __init__(self, close: list[str], error: ActivityError) -> None:
        super().__init__(f"turn failed; {len(close)} call(s) to close")
        self.close = close
        self.error = error


@dataclass
class SessionState:
    """What every part of one session workflow reads and changes: the input, the carried state, people's answers."""

    start: SessionStart
    carry: SessionCarry
    answers: dict[str, Answer] = field(default_factory=dict[str, Answer])
    closing: Closing | None = None
    status: str = "idle"
    # Set by a delivery that says the budget changed; a turn paused at the budget waits for it.
    budget_raised: bool = False

    @property
    def session_id(self) -> str:
        return self.start.session_id

    @property
    def interrupted(self) -> bool:
        """A ``user.interrupt`` is waiting to take effect."""
        return bool(self.carry.interrupts)

    def next_step(self) -> int:
        """A new step number; activities derive their event ids from it (and from the workflow run)."""
        self.carry.step += 1
        return self.carry.step

    def take_interrupts(self) -> list[str]:
        taken, self.carry.interrupts = self.carry.interrupts, []
        return taken

    def take_inbox(self) -> list[str]:
        taken, self.carry.inbox = self.carry.inbox, []
        self.carry.recent = (self.carry.recent + taken)[-RECENT_IDS:]
        return taken

    def deliver_messages(self, event_ids: list[str]) -> None:
        """Queue user messages, each once, in order."""
        known = set(self.carry.inbox) | set(self.carry.recent)
        for event_id in event_ids:
            if event_id not in known:
                self.carry.inbox.append(event_id)
                known.add(event_id)

    def requeue(self, messages: list[str], interrupts: list[str]) -> None:
        """Put events back first in line that a turn took but its replayed first step never saw.

        See ``ModelStepReply.unseen_messages``: they arrived during the turn, and are handled as though they had.
        """
        back = set(messages)
        self.carry.recent = [event_id for event_id in self.carry.recent if event_id not in back]
        self.carry.inbox = messages + [event_id for event_id in self.carry.inbox if event_id not in back]
        self.deliver_interrupts(interrupts)

    def deliver_interrupts(self, event_ids: list[str]) -> None:
        self.carry.interrupts.extend(event_id for event_id in event_ids if event_id not in self.carry.interrupts)

    def set_status(self, status: str, waiting_for: str) -> None:
        """Say what the session is doing: the ``SessionStatus`` search attribute and the UI's current details."""
        if status != self.status:
            self.status = status
            workflow.upsert_search_attributes([SESSION_STATUS.value_set(status)])  # pyright: ignore[reportUnknownMemberType] - overloaded with an untyped legacy form
        self.show(waiting_for)

    def show(self, waiting_for: str) -> None:
        """The Temporal UI's current details: status, turn, what the workflow waits for, what is queued."""
        lines = [f"**{self.status}** · turn {self.carry.turns} · step {self.carry.step}", f"waiting for {waiting_for}"]
        if self.carry.inbox:
            lines.append(f"queued: {len(self.carry.inbox)} message(s)")
        sandbox = self.carry.sandbox
        if sandbox is not None:
            lines.append(f"sandbox: {sandbox.backend} on {sandbox.host} (generation {sandbox.generation})")
        workflow.set_current_details("\n".join(lines))
