"""A session's self-wakeups over REST: dma's extension (``docs/deployments.md``), through ``dma.wakeups``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import StateDep
from api.routes.agents import next_page, page_after
from api.routes.sessions import load_session
from api.session_control import wakeups_of
from dma.clock import as_utc
from dma.schemas.wakeups import WakeupCreate, WakeupOut, WakeupPage, wakeup_response

router = APIRouter(prefix="/v1/sessions/{session_id}/wakeups", tags=["wakeups"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@router.post("", response_model=WakeupOut)
async def create_wakeup(session_id: str, body: WakeupCreate, state: StateDep) -> dict[str, Any]:
    """Schedule a wakeup: the session gets a turn when it fires, with the reason in the model's context."""
    return wakeup_response(await wakeups_of(state).create(session_id, body))


@router.get("", response_model=WakeupPage)
async def list_wakeups(
    session_id: str, state: StateDep, include_inactive: bool = False, limit: Limit = 100, page: str | None = None
) -> dict[str, Any]:
    """List the session's pending wakeups (all of them with ``include_inactive``), newest first."""
    await load_session(state, session_id)
    rows = await wakeups_of(state).list(
        session_id, include_inactive=include_inactive, limit=limit, after=page_after(page)
    )
    more, rows = len(rows) > limit, rows[:limit]
    position = (as_utc(rows[-1].created_at), rows[-1].id) if more else None
    return {"data": [wakeup_response(row) for row in rows], "next_page": next_page(position)}


@router.get("/{wakeup_id}", response_model=WakeupOut)
async def retrieve_wakeup(session_id: str, wakeup_id: str, state: StateDep) -> dict[str, Any]:
    """Retrieve a wakeup."""
    return wakeup_response(await wakeups_of(state).get(session_id, wakeup_id))


@router.post("/{wakeup_id}/cancel", response_model=WakeupOut)
async def cancel_wakeup(session_id: str, wakeup_id: str, state: StateDep) -> dict[str, Any]:
    """Cancel a pending wakeup: its timer or schedule is removed and it never fires again."""
    return wakeup_response(await wakeups_of(state).cancel(session_id, wakeup_id))
