"""API keys stored hashed (SHA-256): the key itself is shown once, when created, and never stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import col, select

from dma.clock import utcnow
from dma.ids import new_id
from dma.store.engine import Database
from dma.store.tables import ApiKey


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create(db: Database, name: str) -> tuple[ApiKey, str]:
    """A new key: its row, and the key (the only time it is known)."""
    key = "dma-" + secrets.token_urlsafe(32)
    row = ApiKey(id=new_id("apikey"), name=name, key_hash=hash_key(key), created_at=utcnow())
    async with db.write() as session:
        session.add(row)
    return row, key


async def list_keys(db: Database) -> list[ApiKey]:
    """Every key row, oldest first."""
    async with db.read() as session:
        return list((await session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all())


async def revoke(db: Database, key_id: str) -> bool:
    """Revoke a key; False when there is no such key."""
    return await revoke_key(db, key_id) is not None


async def revoke_key(db: Database, key_id: str) -> ApiKey | None:
    """Revoke a key (revoking twice keeps the first time); the row, or None when there is no such key."""
    async with db.write() as session:
        row = await session.get(ApiKey, key_id)
        if row is None:
            return None
        row.revoked_at = row.revoked_at or utcnow()
        session.add(row)
    return row


async def is_valid(db: Database, key: str) -> bool:
    """Whether a stored, unrevoked key matches."""
    async with db.read() as session:
        row = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))).first()
    return row is not None and row.revoked_at is None
