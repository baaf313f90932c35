"""``dma keys rotate-secret``: re-seal every stored secret under the current ``DMA_SECRET_KEY``, with no downtime.

Every row records the id of the key that sealed it, so rotation only touches rows sealed under another key. Each row
is swapped in its own short transaction, compared on ``version``: a token refresh or a client's update that lands
meanwhile wins, and the row is simply read again. Rows a worker is refreshing right now (a live refresh lease) are
left for the next pass. Processes keep running throughout: they open old and new ciphertexts alike as long as both
keys are in their keyring (README "Vaults and MCP" gives the order of the steps).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import or_, update
from sqlmodel import col, select

from dma.clock import utcnow
from dma.crypto import Keyring, SecretUnavailable
from dma.store.credentials import open_secrets, seal_context
from dma.store.engine import Database
from dma.store.tables import VaultCredential

PASSES = 20
PASS_PAUSE_SECONDS = 0.5


@dataclass
class RotationReport:
    """What a rotation did: rows re-sealed, rows whose key is missing here, rows still busy at the end."""

    resealed: int = 0
    unopenable: list[str] = field(default_factory=list[str])
    busy: list[str] = field(default_factory=list[str])

    @property
    def complete(self) -> bool:
        return not self.unopenable and not self.busy


async def _stale_rows(db: Database, key_id: str) -> list[VaultCredential]:
    statement = select(VaultCredential).where(
        col(VaultCredential.sealed).is_not(None), col(VaultCredential.key_id) != key_id
    )
    async with db.read() as session:
        return list((await session.exec(statement)).all())


async def _reseal(db: Database, keyring: Keyring, row: VaultCredential) -> bool:
    """Swap one row onto the current key; False when it changed meanwhile or is being refreshed."""
    sealed = keyring.seal_json(dict(open_secrets(keyring, row)), seal_context(row.id))
    now = utcnow()
    statement = (
        update(VaultCredential)
        .where(
            col(VaultCredential.id) == row.id,
            col(VaultCredential.version) == row.version,
            or_(col(VaultCredential.refresh_lease).is_(None), col(VaultCredential.refresh_lease_until) < now),
        )
        .values(sealed=sealed.blob, key_id=sealed.key_id, version=row.version + 1)
    )
    async with db.write() as session:
        result = await (await session.connection()).execute(statement)
    return result.rowcount == 1


async def rotate_secrets(db: Database, keyring: Keyring, passes: int = PASSES) -> RotationReport:
    """Re-seal every secret that is not under ``keyring.current``; safe to run again (it resumes)."""
    report = RotationReport()
    for attempt in range(passes):
        rows = await _stale_rows(db, keyring.current.key_id)
        report.busy = []
        for row in rows:
            if row.id in report.unopenable:
                continue
            try:
                swapped = await _reseal(db, keyring, row)
            except SecretUnavailable:
                report.unopenable.append(row.id)
                continue
            if swapped:
                report.resealed += 1
            else:
                report.busy.append(row.id)
        if not report.busy:
            break
        if attempt + 1 < passes:
            await asyncio.sleep(PASS_PAUSE_SECONDS)
    return report


def run_cli(action: str) -> int:
    """``dma keys rotate-secret`` / ``dma keys new-secret`` (settings from the environment); the exit code."""
    from dma.settings import SecretKeySettings

    if action == "new-secret":
        from dma.crypto import generate_key

        print(generate_key())
        return 0
    settings = SecretKeySettings()
    keyring = settings.keyring()

    async def run() -> RotationReport:
        db = Database.connect(settings.resolved_database_url())
        try:
            return await rotate_secrets(db, keyring)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(f"re-sealed {report.resealed} secret(s) under key {keyring.current.key_id}")
    if report.unopenable:
        print(f"{len(report.unopenable)} secret(s) are sealed under a key missing from DMA_SECRET_KEYRING:")
        print("\n".join(f"  {credential_id}" for credential_id in report.unopenable))
    if report.busy:
        print(f"{len(report.busy)} secret(s) kept changing (being refreshed); run the command again")
    return 0 if report.complete else 1
