"""Keep what a server process built at start-up out of the garbage collector's full collections.

A full (generation 2) collection walks every tracked object. A server's start-up objects (the imported modules of
SQLAlchemy, Temporal, pydantic, FastAPI, and dma's own) are most of them and never become garbage, yet each full
collection walked them again: with 2,000 SSE streams held, the API paused 100–390 ms per full collection, several times
a minute, and a new event reached the last stream that much later (docs/performance.md). ``gc.freeze`` moves them to
a permanent generation that collections skip; everything created later is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exempt every object alive now from later collections (call once start-up is done)."""
    gc.collect()
    gc.freeze()
