"""The root key: sealing (dma/crypto.py), processes that refuse to start without it, ``dma dev``'s key, rotation."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from dma.cli.secretkey import dev_secret_key
from dma.clock import utcnow
from dma.crypto import Keyring, Sealed, SecretKeyError, SecretUnavailable, generate_key, parse_key
from dma.schemas.credentials import CredentialCreate
from dma.schemas.vaults import VaultCreate
from dma.secret_rotation import rotate_secrets
from dma.store import credentials, vaults
from dma.store.credentials import open_secrets
from dma.store.engine import Database
from dma.store.tables import VaultCredential
from tests.conftest import new_database
from tests.stack import traversable_dir

OLD = "old:" + generate_key()
NEW = "new:" + generate_key()


def test_sealing_binds_the_ciphertext_to_its_row() -> None:
    keyring = Keyring.from_settings(generate_key())
    sealed = keyring.seal(b"top secret", "vault_credential/a")
    assert b"top secret" not in sealed.blob.encode() and sealed.key_id == keyring.current.key_id
    assert keyring.open(sealed, "vault_credential/a") == b"top secret"
    with pytest.raises(SecretUnavailable):
        keyring.open(sealed, "vault_credential/b")
    with pytest.raises(SecretUnavailable):
        keyring.open(Sealed(sealed.key_id, sealed.blob[:-4] + "AAAA"), "vault_credential/a")
    with pytest.raises(SecretUnavailable):
        Keyring.from_settings(generate_key()).open(sealed, "vault_credential/a")


@pytest.mark.parametrize("bad", ["", "  ", "short", "x:" + "A" * 10, "bad id!:" + generate_key(), "Zm9v"])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(SecretKeyError):
        Keyring.from_settings(bad)


def test_key_forms() -> None:
    raw = generate_key()
    assert parse_key(raw).key_id.startswith("k") and raw not in repr(parse_key(raw))
    assert parse_key("prod-2:" + raw).key_id == "prod-2"
    assert parse_key(raw).material == parse_key(raw + "=").material, "padding is optional"
    with pytest.raises(SecretKeyError):
        Keyring(parse_key("same:" + generate_key()), [parse_key("same:" + generate_key())])


@pytest.mark.parametrize("command", ["api", "worker"])
def test_processes_refuse_to_start_without_a_key(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMA_SECRET")}
    env["DMA_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "dma.cli", command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "DMA_SECRET_KEY is not set" in done.stderr


def test_dev_makes_a_private_key_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = dev_secret_key(tmp_path)
    said = capsys.readouterr().err
    assert "generated a secret key" in said and str(tmp_path / "secret-key") in said and "0600" in said
    assert stat.S_IMODE((tmp_path / "secret-key").stat().st_mode) == 0o600
    assert Keyring.from_settings(first).current.key_id
    assert dev_secret_key(tmp_path) == first and capsys.readouterr().err == ""


@pytest.fixture
def database(backend: str) -> Iterator[Database]:
    directory = traversable_dir("dma-rotation-")
    url, drop = new_database(backend, directory)
    yield Database.connect(url)
    drop()
    shutil.rmtree(directory, ignore_errors=True)


async def _seed(db: Database, keyring: Keyring, count: int) -> list[str]:
    vault = await vaults.create_vault(db, VaultCreate(display_name="rot"))
    made: list[str] = []
    for index in range(count):
        body = {"auth": {"type": "static_bearer", "token": f"t{index}", "mcp_server_url": f"https://m{index}.example"}}
        request = CredentialCreate.model_validate(body)
        made.append((await credentials.create_credential(db, keyring, vault["id"], request))["id"])
    return made


async def _rows(db: Database) -> list[VaultCredential]:
    async with db.read() as session:
        return list((await session.exec(select(VaultCredential))).all())


async def test_rotation_reseals_everything_and_waits_for_a_refresh(database: Database) -> None:
    old = Keyring.from_settings(OLD)
    ids = await _seed(database, old, 4)
    during = Keyring.from_settings(NEW, OLD)
    # A worker is refreshing the first credential right now: rotation leaves it until the lease is gone.
    async with database.write() as session:
        await session.exec(
            update(VaultCredential)
            .where(VaultCredential.id == ids[0])  # pyright: ignore[reportArgumentType]
            .values(refresh_lease="someone", refresh_lease_until=utcnow() + timedelta(seconds=1))
        )
    report = await rotate_secrets(database, during, passes=1)
    assert report.resealed == 3 and report.busy == [ids[0]] and not report.complete
    await asyncio.sleep(1.1)
    report = await rotate_secrets(database, during)
    assert report.resealed == 1 and report.complete
    new_only = Keyring.from_settings(NEW)
    rows = await _rows(database)
    assert {row.key_id for row in rows} == {"new"}
    assert sorted(open_secrets(new_only, row)["token"] for row in rows) == ["t0", "t1", "t2", "t3"]
    assert (await rotate_secrets(database, new_only)).resealed == 0, "running it again changes nothing"


async def test_rotation_reports_secrets_it_cannot_open(database: Database) -> None:
    ids = await _seed(database, Keyring.from_settings(OLD), 1)
    report = await rotate_secrets(database, Keyring.from_settings(NEW), passes=1)
    assert report.unopenable == ids and not report.complete


async def test_the_rotate_secret_command(database: Database) -> None:
    await _seed(database, Keyring.from_settings(OLD), 2)
    env = {**os.environ, "DMA_DATABASE_URL": database.url, "DMA_SECRET_KEY": NEW, "DMA_SECRET_KEYRING": OLD}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dma.cli", "keys", "rotate-secret"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "re-sealed 2 secret(s) under key new" in done.stdout
    assert {row.key_id for row in await _rows(database)} == {"new"}
    fresh = subprocess.run(
        [sys.executable, "-m", "dma.cli", "keys", "new-secret"], capture_output=True, text=True, timeout=60
    )
    assert Keyring.from_settings(fresh.stdout.strip()).current.key_id
