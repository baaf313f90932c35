"""API keys created with ``dma keys`` (stored hashed) authenticate; revoked ones do not."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.stack import Stack


def dma(stack: Stack, *args: str) -> str:
    env = {**os.environ, "DMA_DATABASE_URL": stack.database_url}
    done = subprocess.run([sys.executable, "-m", "dma.cli", "keys", *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_created_key_works_until_revoked(stack: Stack) -> None:
    key_id, key = dma(stack, "create", "--name", "ci").splitlines()[0].split("\t")
    assert key_id.startswith("apikey_") and key.startswith("dma-")
    assert key_id in dma(stack, "list") and key not in dma(stack, "list")
    with httpx.Client(base_url=stack.base_url) as http:
        assert http.get("/v1/sessions", headers={"authorization": f"Bearer {key}"}).status_code == 200
        assert http.get("/v1/sessions", headers={"x-api-key": key}).status_code == 200
        dma(stack, "revoke", key_id)
        assert "revoked" in dma(stack, "list")
        assert http.get("/v1/sessions", headers={"x-api-key": key}).status_code == 401
