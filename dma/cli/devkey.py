"""The dev API key ``dma dev`` keeps in the data dir: the same key every run, and the people verbs' fallback."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEV_KEY_FILE = "dev-api-key"


def dev_key_path(data_dir: Path) -> Path:
    """Where the dev key lives."""
    return data_dir / DEV_KEY_FILE


def read_dev_key(data_dir: Path) -> str | None:
    """The dev key, if ``dma dev`` made one in this data dir."""
    path = dev_key_path(data_dir)
    try:
        key = path.read_text().strip()
    except OSError:
        return None
    return key or None


def ensure_dev_key(data_dir: Path) -> str:
    """The dev key, made (readable by its owner only) on first use."""
    existing = read_dev_key(data_dir)
    if existing is not None:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "dma-dev-" + secrets.token_urlsafe(24)
    path = dev_key_path(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key
