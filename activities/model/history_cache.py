"""Each session's context rows, kept on the worker between model steps, so a step reads only the events that are new.

Why it is safe: a visible event never changes (only hidden or queued rows get a ``seq``, once), and a session's
visible events are exactly ``seq`` 1 … ``Session.event_seq`` (every ``seq`` comes from that counter, under the
session's lock). So a cached prefix that ends at ``seq`` N plus the rows after N is the whole log, and the counter
says whether the rows read really are all of them. Anything unexpected (a compaction among the new rows, a count
that does not add up, a log that got shorter) falls back to reading the whole context.

An entry is only kept once the transaction that read it commits: rows this transaction made visible (the turn's
user messages) would otherwise stay cached after a rollback took their positions back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.model.context import RowTurn, row_turn
from activities.model.history import COMPACTED, History, load_history
from dma.store import events as log
from dma.store.tables import Session, SessionEvent

# Rows kept over all sessions; the least recently used sessions go first. A row holds one event's body.
DEFAULT_MAX_ROWS = 50_000


@dataclass(frozen=True)
class _Entry:
    rows: tuple[SessionEvent, ...]
    turns: tuple[RowTurn, ...]  # ``row_turn`` of each row: a step converts only the rows that are new
    summary: str | None
    last_seq: int


def _turns(rows: Sequence[SessionEvent]) -> tuple[RowTurn, ...]:
    found: list[RowTurn] = [row_turn(row) for row in rows]  # typed: a bare tuple() widens the literal
    return tuple(found)


class HistoryCache:
    """The context rows of recently stepped sessions, by session id (one per worker process)."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._rows = 0
        self._max_rows = max_rows
        self.hits = 0
        self.misses = 0

    async def load(self, db: AsyncSession, session: Session) -> History:
        """The context rows of ``session``'s next request; the caller holds the session locked in ``db``."""
        last_seq = session.event_seq
        entry = self._entries.get(session.id)
        fresh = await self._extend(db, session.id, entry, last_seq) if entry is not None else None
        if fresh is None:
            self.misses += 1
            loaded = await load_history(db, session.id)
            fresh = _Entry(tuple(loaded.rows), _turns(loaded.rows), loaded.summary, last_seq)
        else:
            self.hits += 1
        session_id, kept = session.id, fresh

        def committed(_: object) -> None:
            self._keep(session_id, kept)

        event.listen(db.sync_session, "after_commit", committed, once=True)
        return History(list(fresh.rows), fresh.summary, turns=fresh.turns)

    @staticmethod
    async def _extend(db: AsyncSession, session_id: str, entry: _Entry, last_seq: int) -> _Entry | None:
        if last_seq < entry.last_seq:
            return None
        new = await log.visible_from(db, session_id, entry.last_seq + 1) if last_seq > entry.last_seq else []
        expected = range(entry.last_seq + 1, last_seq + 1)
        if [row.seq for row in new] != list(expected) or any(row.type == COMPACTED for row in new):
            return None
        return _Entry((*entry.rows, *new), entry.turns + _turns(new), entry.summary, last_seq)

    def _keep(self, session_id: str, entry: _Entry) -> None:
        if (old := self._entries.pop(session_id, None)) is not None:
            self._rows -= len(old.rows)
        if len(entry.rows) > self._max_rows:
            return
        self._entries[session_id] = entry
        self._rows += len(entry.rows)
        while self._rows > self._max_rows:
            _, evicted = self._entries.popitem(last=False)
            self._rows -= len(evicted.rows)
