"""Secrets at rest: AES-256-GCM under a root key from the environment, with the key id stored beside each ciphertext.

A key is written ``[<key id>:]<base64 of 32 random bytes>`` (standard or URL-safe base64, padding optional). Without
an explicit id, the id is derived from the key (a hash, so the id says nothing usable about the key). ``DMA_SECRET_KEY``
is the current key: it seals every new secret. ``DMA_SECRET_KEYRING`` holds further keys, comma-separated, that are
used only to open secrets sealed under them: the previous key while ``dma keys rotate-secret`` re-seals everything,
or the next key before it becomes current (see README "Vaults and MCP").

Each ciphertext is bound to where it is stored (``context``, e.g. the credential id) as GCM associated data, so a
ciphertext copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
BLOB_PREFIX = "v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SecretKeyError(ValueError):
    """A secret key setting is missing or malformed; the process must not start."""


class SecretUnavailable(Exception):
    """A stored secret cannot be opened: its key is not in the keyring, or the ciphertext is damaged."""


@dataclass(frozen=True)
class SecretKey:
    """One AES-256 key and its id (the material never appears in ``repr``)."""

    key_id: str
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class Sealed:
    """A ciphertext as stored: the id of the key that sealed it and the encoded nonce + ciphertext + tag."""

    key_id: str
    blob: str


def _decode(text: str) -> bytes:
    raw = text.strip()
    padded = raw + "=" * (-len(raw) % 4)
    try:
        if "-" in raw or "_" in raw:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError("a secret key must be base64 of 32 random bytes") from None


def derived_key_id(material: bytes) -> str:
    """The id of a key given without one: a short hash that cannot be turned back into the key."""
    return "k" + hashlib.sha256(b"dma secret key id\x00" + material).hexdigest()[:12]


def parse_key(text: str) -> SecretKey:
    """A key from its setting form ``[<key id>:]<base64>``.

    Raises:
        SecretKeyError: when the text is not base64 of exactly 32 bytes or the id is not ``[A-Za-z0-9_-]{1,32}``.
    """
    key_id, sep, encoded = text.strip().rpartition(":")
    material = _decode(encoded)
    if len(material) != KEY_BYTES:
        raise SecretKeyError(f"a secret key must be 32 bytes (AES-256); this one has {len(material)}")
    if sep and not _KEY_ID.match(key_id):
        raise SecretKeyError("a secret key id must be 1-32 characters of letters, digits, '_' and '-'")
    return SecretKey(key_id if sep else derived_key_id(material), material)


def generate_key() -> str:
    """A fresh key in setting form (URL-safe base64 of 32 random bytes, id derived)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


class Keyring:
    """The current key, which seals, and every key that may open what is stored."""

    def __init__(self, current: SecretKey, others: list[SecretKey] | None = None) -> None:
        self.current = current
        self._keys: dict[str, SecretKey] = {}
        for key in [*(others or []), current]:
            known = self._keys.get(key.key_id)
            if known is not None and known.material != key.material:
                raise SecretKeyError(f"two different secret keys share the id {key.key_id!r}")
            self._keys[key.key_id] = key

    @classmethod
    def from_settings(cls, current: str | None, others: str | None = None) -> Keyring:
        """The keyring of ``DMA_SECRET_KEY`` and ``DMA_SECRET_KEYRING``.

        Raises:
            SecretKeyError: when ``current`` is empty or any key is malformed.
        """
        if not current or not current.strip():
            raise SecretKeyError(
                "DMA_SECRET_KEY is not set: dma seals vault secrets with it and refuses to run without one "
                "(generate one with `dma keys new-secret`)"
            )
        extra = [parse_key(part) for part in (others or "").split(",") if part.strip()]
        return cls(parse_key(current), extra)

    @property
    def key_ids(self) -> list[str]:
        """Ids of every key that can open secrets."""
        return sorted(self._keys)

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        """Encrypt under the current key, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self.current.material).encrypt(nonce, plaintext, context.encode())
        return Sealed(self.current.key_id, BLOB_PREFIX + base64.b64encode(nonce + ciphertext).decode())

    def open(self, sealed: Sealed, context: str) -> bytes:
        """Decrypt a stored secret.

        Raises:
            SecretUnavailable: when its key is unknown here, or it was damaged or moved to another ``context``.
        """
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise SecretUnavailable(f"the secret was sealed under key {sealed.key_id!r}, which this process lacks")
        if not sealed.blob.startswith(BLOB_PREFIX):
            raise SecretUnavailable("the stored secret has an unknown format")
        try:
            raw = base64.b64decode(sealed.blob[len(BLOB_PREFIX) :], validate=True)
            return AESGCM(key.material).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretUnavailable("the stored secret does not open: damaged, or not sealed for this record") from None

    def seal_json(self, value: dict[str, Any], context: str) -> Sealed:
        """Seal a JSON object."""
        return self.seal(json.dumps(value, separators=(",", ":"), sort_keys=True).encode(), context)

    def open_json(self, sealed: Sealed, context: str) -> dict[str, Any]:
        """Open a sealed JSON object.

        Raises:
            SecretUnavailable: as ``open``, or when the plaintext is not a JSON object.
        """
        try:
            value = json.loads(self.open(sealed, context))
        except ValueError:
            raise SecretUnavailable("the stored secret is not a JSON object") from None
        if not isinstance(value, dict):
            raise SecretUnavailable("the stored secret is not a JSON object")
        return value  # pyright: ignore[reportUnknownVariableType] - checked to be a dict just above
