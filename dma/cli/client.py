"""The ``anthropic`` SDK client the people verbs use: the public API, with the key handling of the SDK.

The key comes from ``--api-key``, else ``ANTHROPIC_API_KEY`` (as the SDK reads it), else the dev key ``dma dev``
keeps in the data dir. The server comes from ``--base-url``, else ``DMA_URL``, else ``http://127.0.0.1:8787``.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from dma.cli.devkey import dev_key_path, read_dev_key
from dma.cli.output import fail
from dma.settings import ClientSettings

if TYPE_CHECKING:
    import anthropic  # loads in about a second: imported when a command connects, not for `dma --help`

ApiKeyOpt = Annotated[
    str | None,
    typer.Option(help="API key [env: ANTHROPIC_API_KEY; default: the dev key in the data dir].", show_default=False),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="The dma server [env: DMA_URL; default: http://127.0.0.1:8787].", show_default=False)
]


@dataclass(frozen=True)
class Target:
    """Where requests go, which key they carry, and where that key came from (for error messages)."""

    base_url: str
    api_key: str
    key_source: str


def resolve(api_key: str | None, base_url: str | None) -> Target:
    """The server and key to use, from the options, the environment and the data dir."""
    settings = ClientSettings()
    url = (base_url or settings.url).rstrip("/")
    if api_key:
        return Target(url, api_key, "--api-key")
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return Target(url, settings.api_key.get_secret_value(), "ANTHROPIC_API_KEY")
    dev_key = read_dev_key(settings.data_dir)
    if dev_key is not None:
        return Target(url, dev_key, str(dev_key_path(settings.data_dir)))
    fail(
        "no API key: pass --api-key, set ANTHROPIC_API_KEY, or run `dma dev` here"
        f" (it keeps a key in {dev_key_path(settings.data_dir)})",
        code=2,
    )


@contextmanager
def connect(api_key: str | None, base_url: str | None) -> Generator[anthropic.Anthropic, None, None]:
    """An SDK client for the target; API errors inside the block become one clear line and exit code 1."""
    import anthropic

    target = resolve(api_key, base_url)
    # The CLI shows errors at once; retrying a refused connection twice only delays the message.
    client = anthropic.Anthropic(api_key=target.api_key, base_url=target.base_url, max_retries=0)
    try:
        yield client
    except anthropic.AuthenticationError:
        fail(f"{target.base_url} refused the API key from {target.key_source} (401)")
    except anthropic.APIConnectionError:
        fail(f"cannot reach dma at {target.base_url}: is `dma dev` (or `dma api`) running? (--base-url, DMA_URL)")
    except anthropic.APIStatusError as error:
        fail(f"{error.status_code}: {_message(error)}")
    finally:
        client.close()


def _message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType] - JSON
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):  # pyright: ignore[reportUnknownMemberType] - JSON
            return str(inner["message"])  # pyright: ignore[reportUnknownArgumentType] - checked above
    return error.message
