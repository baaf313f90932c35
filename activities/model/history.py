"""The part of the log a model request reads: everything, or, after a compaction, its summary and what followed.

An ``agent.thread_context_compacted`` event keeps (in its private ``extra``) the summary of the conversation before
``from_seq`` and that position; the context is the summary, then every event from ``from_seq`` on (the recent part
that was kept verbatim, and all that came after the compaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from activities.model.context import FileSources, RowTurn, build_messages
from dma.store import events as log
from dma.store.tables import SessionEvent

COMPACTED = "agent.thread_context_compacted"
SUMMARY_HEADER = "[Summary of the earlier part of this conversation, which was compacted to fit the context window]"


@dataclass(frozen=True)
class History:
    """The rows a request reads and the summary of what came before them (None: the whole log)."""

    rows: list[SessionEvent]
    summary: str | None = None
    # The sources that ``file`` blocks resolve to (``session_context.file_sources``).
    files: FileSources | None = None
    # ``context.row_turn`` of each row, when the history cache kept them (None: converted from the rows).
    turns: tuple[RowTurn, ...] | None = None

    def messages(self) -> list[dict[str, Any]]:
        """The conversation for the model: the summary first, as the opening of the first user message."""
        return with_summary(build_messages(self.rows, self.files, self.turns), self.summary)


def with_summary(messages: list[dict[str, Any]], summary: str | None) -> list[dict[str, Any]]:
    """``messages`` opened by a summary of what preceded them."""
    if not summary:
        return messages
    block = {"type": "text", "text": f"{SUMMARY_HEADER}\n{summary}"}
    if messages and messages[0]["role"] == "user":
        return [{"role": "user", "content": [block, *messages[0]["content"]]}, *messages[1:]]
    return [{"role": "user", "content": [block]}, *messages]


async def load_history(db: AsyncSession, session_id: str) -> History:
    """The context rows of the session's next request."""
    compaction = await log.latest_of_type(db, session_id, COMPACTED)
    if compaction is None:
        return History(await log.visible_in_order(db, session_id))
    extra: dict[str, Any] = compaction.extra or {}
    rows = await log.visible_from(db, session_id, int(extra.get("from_seq", compaction.seq or 0)))
    return History([row for row in rows if row.type != COMPACTED], str(extra.get("summary", "")))
