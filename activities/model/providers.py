"""One SDK client per provider, built on first use and kept for the worker's lifetime.

Temporal owns retries, so every client runs with ``max_retries=0``. Keys come from the worker's settings: the
standard ``ANTHROPIC_*`` / ``OPENAI_*`` variables for the built-in providers, and for providers-file entries the
environment variable each one names.
"""

from __future__ import annotations

import anthropic
import httpx2
import openai

from activities.model.anthropic_stream import AnthropicProvider
from activities.model.errors import MissingKey
from activities.model.openai_chat import OpenAIChatProvider
from activities.model.openai_responses import OpenAIResponsesProvider
from activities.model.request import Provider
from activities.model.scripted import ScriptedTransport
from dma.catalog.catalog import Provider as ProviderConfig
from dma.catalog.catalog import Route
from dma.settings import WorkerSettings

TIMEOUT = httpx2.Timeout(600.0, connect=10.0)
# Local servers (vLLM, Ollama) often take no key, but the openai SDK insists on one.
NO_KEY = "unused"


class ModelClients:
    """The providers this worker has talked to, by provider name."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._providers: dict[str, Provider] = {}
        self._closers: list[anthropic.AsyncAnthropic | openai.AsyncOpenAI] = []

    def for_route(self, route: Route) -> Provider:
        """The provider that serves ``route``.

        Raises:
            MissingKey: when the provider names a key variable that is not set on this worker.
        """
        name = route.provider.name
        if name not in self._providers:
            self._providers[name] = self._build(route.provider)
        return self._providers[name]

    def _key(self, config: ProviderConfig) -> str | None:
        if config.api_key_env:
            secret = self._settings.provider_key(config.api_key_env)
            if secret is None:
                message = f"provider {config.name!r} takes its key from ${config.api_key_env}, not set on this worker"
                raise MissingKey(message)
            return secret.get_secret_value()
        standard = {"anthropic": self._settings.anthropic_api_key, "openai": self._settings.openai_api_key}
        secret = standard.get(config.name)
        return secret.get_secret_value() if secret is not None else None

    def _base_url(self, config: ProviderConfig) -> str | None:
        standard = {"anthropic": self._settings.anthropic_base_url, "openai": self._settings.openai_base_url}
        return config.base_url or standard.get(config.name)

    def _build(self, config: ProviderConfig) -> Provider:
        if config.kind == "scripted":
            client = anthropic.AsyncAnthropic(
                api_key="scripted",
                base_url="http://scripted.local",
                max_retries=0,
                http_client=httpx2.AsyncClient(transport=ScriptedTransport()),
            )
            self._closers.append(client)
            return AnthropicProvider(client)
        key, base_url = self._key(config), self._base_url(config)
        if config.kind == "anthropic":
            client = anthropic.AsyncAnthropic(
                api_key=key or "missing-key", base_url=base_url, max_retries=0, timeout=TIMEOUT
            )
            self._closers.append(client)
            return AnthropicProvider(client)
        sdk = openai.AsyncOpenAI(api_key=key or NO_KEY, base_url=base_url, max_retries=0, timeout=TIMEOUT)
        self._closers.append(sdk)
        if config.kind == "openai_responses":
            return OpenAIResponsesProvider(sdk)
        return OpenAIChatProvider(sdk, config.max_tokens_field)

    async def close(self) -> None:
        for client in self._closers:
            await client.close()
        self._closers.clear()
        self._providers.clear()
