"""What the session mounts cost per tool call: ``prepare`` + ``collect`` around a call, with a memory store of N
memories attached, against a session with no resources (outputs, uploads and skills directories only).

Run: ``.venv/bin/python -m bench.mounts_bench [--memories 0 100 1000] [--runs N]``. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from activities.sandboxes import SandboxManager
from activities.session_mounts import SessionMounts
from dma.clock import utcnow
from dma.ids import new_id
from dma.schemas.resources import MemoryStoreResourceIn
from dma.storage.local import LocalStore
from dma.store import memory as memory_store
from dma.store import migrate
from dma.store import session_resources as resource_store
from dma.store.engine import Database
from dma.store.tables import MemoryStore, Session

ACTOR = {"type": "api_actor", "api_key_id": "apikey_bench"}


async def _session(db: Database, memories: int) -> Session:
    now = utcnow()
    session = Session(
        id=new_id("sesn"), agent_id="agent_x", agent_version=1, agent={}, environment_id="env_x",
        environment_config={}, meta={}, usage={}, vault_ids=[], resources=[], created_at=now, updated_at=now,
    )  # fmt: skip
    async with db.write() as tx:
        tx.add(session)
        if memories:
            store = MemoryStore(id=new_id("memstore"), name="notes", meta={}, created_at=now, updated_at=now)
            tx.add(store)
            await tx.flush()
            for index in range(memories):
                path = f"/topic-{index % 10}/note-{index}.md"
                await memory_store.create_memory(tx, store.id, path, f"memory {index}\n" * 20, ACTOR)
            attach = MemoryStoreResourceIn(type="memory_store", memory_store_id=store.id)
            rows = await resource_store.build(tx, session.id, [attach])
            await resource_store.insert(tx, session, rows)
    return session


async def _measure(memories: int, runs: int) -> tuple[float, list[float]]:
    directory = Path(tempfile.mkdtemp(prefix="dma-mounts-bench-"))
    url = f"sqlite+aiosqlite:///{directory / 'dma.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database.connect(url)
    mounts = SessionMounts(db, LocalStore(directory / "files"), SandboxManager(directory), "https://github.com")
    try:
        session = await _session(db, memories)
        began = time.perf_counter()
        prepared = await mounts.prepare(session)
        await mounts.collect(session, prepared)
        first = time.perf_counter() - began
        samples: list[float] = []
        for _ in range(runs):
            began = time.perf_counter()
            prepared = await mounts.prepare(session)
            await mounts.collect(session, prepared)
            samples.append(time.perf_counter() - began)
        return first, samples
    finally:
        await db.dispose()
        shutil.rmtree(directory, ignore_errors=True)


async def _main(memory_counts: list[int], runs: int) -> None:
    print("| memories in the attached store | first call (materialize) | each later call: median (p90) |")  # noqa: T201
    print("|---|---|---|")  # noqa: T201
    for count in memory_counts:
        first, samples = await _measure(count, runs)
        p90 = sorted(samples)[max(0, int(len(samples) * 0.9) - 1)]
        label = "no store" if count == 0 else str(count)
        row = f"| {label} | {first * 1000:.1f} ms | {statistics.median(samples) * 1000:.1f} ms ({p90 * 1000:.1f}) |"
        print(row)  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memories", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(_main(arguments.memories, arguments.runs))
