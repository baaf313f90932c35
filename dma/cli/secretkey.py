"""The root key that seals vault secrets (``DMA_SECRET_KEY``).

``dma api`` and ``dma worker`` require it; ``dma dev`` makes one into the data dir on first start.
"""

from __future__ import annotations

import os
from pathlib import Path

from dma.cli.output import err, fail
from dma.crypto import SecretKeyError
from dma.settings import SecretKeySettings

SECRET_KEY_FILE = "secret-key"


def require_secret_key(settings: SecretKeySettings) -> None:
    """Leave with code 2 unless a usable key is set: secrets are never stored unsealed."""
    try:
        settings.keyring()
    except SecretKeyError as error:
        fail(str(error), code=2)


def dev_secret_key(data_dir: Path) -> str:
    """The key ``dma dev`` seals vault secrets with: kept in the data dir (mode 0600), made and announced once."""
    from dma.crypto import generate_key

    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(generate_key() + "\n")
    err.print(f"generated a secret key for vault secrets in {path} (mode 0600); DMA_SECRET_KEY overrides it")
    return path.read_text().strip()
