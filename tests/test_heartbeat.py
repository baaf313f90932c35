"""``heartbeating``: the first beat comes one interval in, so an activity that ends sooner costs no server call."""

from __future__ import annotations

import asyncio

import pytest

from activities import heartbeat


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The loop times at which the block heartbeat (instead of reaching Temporal)."""
    seen: list[float] = []
    loop = asyncio.get_running_loop
    monkeypatch.setattr(heartbeat.activity, "heartbeat", lambda *_: seen.append(loop().time()))
    return seen


async def test_a_block_shorter_than_the_interval_never_heartbeats(beats: list[float]) -> None:
    async with heartbeat.heartbeating(every=0.2):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the beat task is gone: nothing more arrives after the block
    assert beats == []


async def test_a_longer_block_heartbeats_every_interval_from_one_interval_in(beats: list[float]) -> None:
    start = asyncio.get_running_loop().time()
    async with heartbeat.heartbeating(every=0.05):
        await asyncio.sleep(0.28)
    assert 4 <= len(beats) <= 6
    assert beats[0] - start >= 0.05
