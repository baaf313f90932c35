"""The providers file (``DMA_PROVIDERS_FILE``, TOML): extra providers, and per-model settings for any provider.

Each ``[providers.NAME]`` table declares a provider (or adjusts the built-in ``anthropic`` and ``openai`` ones):
its wire protocol (``kind``), its ``base_url``, and the *name* of the environment variable that holds its key on
the workers. A key itself is refused: the file is configuration, readable by the API process, and keys live only in
the workers' environment. ``[providers.NAME.models."MODEL"]`` tables set a model's context window, output limit,
list prices (USD per million tokens), whether it takes a reasoning effort, and its fallbacks.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

ProviderKind = Literal["anthropic", "openai_chat", "openai_responses"]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Price = Annotated[float, Field(ge=0, le=100_000)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
MAX_FALLBACKS = 3


class ProvidersFileError(ValueError):
    """The providers file cannot be read or breaks a rule; the message names the file and the offending entry."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelEntry(_Entry):
    """Settings of one model; every field left out keeps the built-in value (or stays unknown)."""

    context_window: Annotated[int, Field(ge=256, le=100_000_000)] | None = None
    max_output_tokens: Annotated[int, Field(ge=16, le=10_000_000)] | None = None
    input_price: Price | None = None
    output_price: Price | None = None
    cache_read_price: Price | None = None
    cache_write_price: Price | None = None
    effort: bool | None = None
    fallbacks: Annotated[list[ModelName], Field(max_length=MAX_FALLBACKS)] | None = None

    @model_validator(mode="after")
    def _prices_come_in_pairs(self) -> ModelEntry:
        if (self.input_price is None) != (self.output_price is None):
            raise ValueError("input_price and output_price must be given together")
        if self.input_price is None and (self.cache_read_price is not None or self.cache_write_price is not None):
            raise ValueError("cache prices need input_price and output_price")
        return self


class ProviderEntry(_Entry):
    """One provider; ``kind`` and ``base_url`` are required unless the name is a built-in provider."""

    kind: ProviderKind | None = None
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None = None
    api_key_env: EnvName | None = None
    # OpenAI's own API wants max_completion_tokens; most compatible servers (vLLM, Ollama, LiteLLM) max_tokens.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None
    models: dict[ModelName, ModelEntry] = Field(default_factory=dict[str, ModelEntry])

    @model_validator(mode="before")
    @classmethod
    def _no_literal_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError("api_key is not allowed: put the key in the workers' environment and name it api_key_env")
        return data  # pyright: ignore[reportUnknownVariableType] - the raw TOML table


class ProvidersFile(_Entry):
    """The whole file."""

    providers: dict[ProviderName, ProviderEntry] = Field(default_factory=dict[str, ProviderEntry])


def _describe(error: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()[:5]]
    return "; ".join(parts)


def load_providers_file(path: Path) -> ProvidersFile:
    """Read and validate a providers file.

    Raises:
        ProvidersFileError: when it is missing, is not TOML, or breaks a rule.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProvidersFileError(f"providers file {path}: cannot be read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise ProvidersFileError(f"providers file {path}: not valid TOML ({err})") from None
    try:
        return ProvidersFile.model_validate(raw)
    except ValidationError as err:
        raise ProvidersFileError(f"providers file {path}: {_describe(err)}") from None
