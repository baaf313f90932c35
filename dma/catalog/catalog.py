"""Routes a model id to its provider and settings.

``claude-*`` and other bare ids → Anthropic, ``openai/m`` → OpenAI, ``name/m`` → a provider of the providers file,
``scripted`` / ``scripted-*`` → the built-in offline model.

The API validates agents' model ids with it (an unknown provider prefix is a 400) and checks that a session with a
budget only uses priced models; the worker routes each request with it. Neither needs a key for that: keys are
resolved by the worker from the environment variable each provider names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from dma.catalog.builtin import BUILTIN_MODELS, SCRIPTED_MODEL, ModelSpec
from dma.catalog.pricing import Prices
from dma.catalog.providers_file import (
    MAX_FALLBACKS,
    ModelEntry,
    ProviderEntry,
    ProvidersFileError,
    load_providers_file,
)
from dma.schemas.common import SchemaError

Kind = Literal["anthropic", "openai_chat", "openai_responses", "scripted"]
SCRIPTED = "scripted"
# A model and its fallbacks: the most models one request may go through.
MAX_CHAIN = 1 + MAX_FALLBACKS


@dataclass(frozen=True)
class Provider:
    """A provider: its protocol, endpoint (None: the SDK's default or its standard variable) and key variable."""

    name: str
    kind: Kind
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"


@dataclass(frozen=True)
class Route:
    """Where one model id goes: ``model_id`` as the agent names it, ``model`` as its provider names it."""

    model_id: str
    provider: Provider
    model: str
    spec: ModelSpec


class UnknownModel(SchemaError):
    """A model id whose provider prefix names no provider (400 at agent create and update)."""


BUILTIN_PROVIDERS = {
    "anthropic": Provider("anthropic", "anthropic"),
    "openai": Provider("openai", "openai_chat", max_tokens_field="max_completion_tokens"),
}


def is_scripted(model_id: str) -> bool:
    """``scripted`` and ``scripted-*`` are answered in-process by the built-in model, with no provider key."""
    return model_id == SCRIPTED or model_id.startswith(SCRIPTED + "-")


def _merge(spec: ModelSpec, entry: ModelEntry) -> ModelSpec:
    prices = spec.prices
    if entry.input_price is not None and entry.output_price is not None:
        prices = Prices(entry.input_price, entry.output_price, entry.cache_read_price, entry.cache_write_price)
    return replace(
        spec,
        context_window=entry.context_window or spec.context_window,
        max_output_tokens=entry.max_output_tokens or spec.max_output_tokens,
        prices=prices,
        effort=spec.effort if entry.effort is None else entry.effort,
        fallbacks=tuple(entry.fallbacks) if entry.fallbacks is not None else spec.fallbacks,
    )


def _provider(path: Path, name: str, entry: ProviderEntry) -> Provider:
    builtin = BUILTIN_PROVIDERS.get(name)
    if builtin is None and (entry.kind is None or entry.base_url is None):
        raise ProvidersFileError(f"providers file {path}: provider {name!r} needs a kind and a base_url")
    base = builtin or Provider(name, "openai_chat")
    return replace(
        base,
        kind=entry.kind or base.kind,
        base_url=entry.base_url or base.base_url,
        api_key_env=entry.api_key_env or base.api_key_env,
        max_tokens_field=entry.max_tokens_field or base.max_tokens_field,
    )


class ModelCatalog:
    """Providers and model settings: the built-in table, overlaid by the providers file when there is one."""

    def __init__(self, providers: dict[str, Provider], models: dict[str, dict[str, ModelSpec]]) -> None:
        self.providers = providers
        self._models = models

    @classmethod
    def builtin(cls) -> ModelCatalog:
        """Anthropic and OpenAI with the built-in table, as with no providers file."""
        return cls(dict(BUILTIN_PROVIDERS), {name: dict(table) for name, table in BUILTIN_MODELS.items()})

    @classmethod
    def load(cls, path: Path | None) -> ModelCatalog:
        """The catalog for a providers file (None: the built-in one).

        Raises:
            ProvidersFileError: when the file is unreadable or invalid, or a fallback names an unknown provider.
        """
        catalog = cls.builtin()
        if path is None:
            return catalog
        for name, entry in load_providers_file(path).providers.items():
            if name == SCRIPTED:
                raise ProvidersFileError(f"providers file {path}: {SCRIPTED!r} is the built-in model's name")
            catalog.providers[name] = _provider(path, name, entry)
            table = catalog._models.setdefault(name, {})
            for model, settings in entry.models.items():
                table[model] = _merge(table.get(model, ModelSpec()), settings)
        catalog._check_fallbacks(path)
        return catalog

    def _check_fallbacks(self, path: Path) -> None:
        for provider, table in self._models.items():
            for model, spec in table.items():
                for fallback in spec.fallbacks:
                    try:
                        self.route(fallback)
                    except UnknownModel as err:
                        raise ProvidersFileError(f"providers file {path}: {provider}/{model}: {err.message}") from None

    def route(self, model_id: str) -> Route:
        """Where requests for ``model_id`` go.

        Raises:
            UnknownModel: when the id has a ``name/`` prefix that names no provider.
        """
        if is_scripted(model_id):
            return Route(model_id, Provider(SCRIPTED, "scripted"), model_id, SCRIPTED_MODEL)
        prefix, slash, rest = model_id.partition("/")
        if not slash:
            # Bare ids (every Claude id among them) go to the Messages API, as ANTHROPIC_BASE_URL directs.
            prefix, rest = "anthropic", model_id
        provider = self.providers.get(prefix)
        if provider is None or not rest:
            known = ", ".join(sorted(self.providers))
            raise UnknownModel(
                f"model {model_id[:256]!r}: unknown provider {prefix[:64]!r} (known: {known}; others are declared in "
                "the providers file, DMA_PROVIDERS_FILE)"
            )
        return Route(model_id, provider, rest, self._models.get(prefix, {}).get(rest, ModelSpec()))

    def chain(self, model_id: str) -> list[Route]:
        """The model and its fallbacks, in order, each once, at most ``MAX_CHAIN`` (what a failing request tries)."""
        first = self.route(model_id)
        routes = [first]
        for fallback in first.spec.fallbacks:
            route = self.route(fallback)
            if all(route.model_id != seen.model_id for seen in routes):
                routes.append(route)
        return routes[:MAX_CHAIN]

    def unpriced(self, model_id: str) -> list[str]:
        """The models of ``model_id``'s chain that have no list price (a session budget cannot measure them)."""
        return [route.model_id for route in self.chain(model_id) if route.spec.prices is None]
