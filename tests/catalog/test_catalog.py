"""Model routing, the providers file and list prices (dma/catalog), without any server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dma.catalog.catalog import ModelCatalog, UnknownModel
from dma.catalog.pricing import Prices, cap_micros, cents, list_cost
from dma.catalog.providers_file import ProvidersFileError

GOOD = """
[providers.vllm]
kind = "openai_chat"
base_url = "http://127.0.0.1:8000/v1"

[providers.vllm.models."Qwen/Qwen2.5-7B-Instruct"]
context_window = 32768
max_output_tokens = 4096
input_price = 0.0
output_price = 0.0
fallbacks = ["openai/gpt-5-mini"]

[providers.openai]
kind = "openai_responses"
api_key_env = "MY_OPENAI_KEY"

[providers.openai.models.gpt-5-mini]
input_price = 1.0
output_price = 2.0

[providers.anthropic.models.claude-sonnet-4-6]
fallbacks = ["vllm/Qwen/Qwen2.5-7B-Instruct", "openai/gpt-5-mini", "claude-haiku-4-5"]
"""


def catalog_from(tmp_path: Path, text: str) -> ModelCatalog:
    path = tmp_path / "providers.toml"
    path.write_text(text)
    return ModelCatalog.load(path)


def test_builtin_routing_without_a_file() -> None:
    catalog = ModelCatalog.load(None)
    claude = catalog.route("claude-sonnet-4-6")
    assert (claude.provider.name, claude.provider.kind, claude.model) == ("anthropic", "anthropic", "claude-sonnet-4-6")
    assert claude.spec.context_window == 200_000
    assert claude.spec.prices == catalog.route("anthropic/claude-sonnet-4-6").spec.prices
    gpt = catalog.route("openai/gpt-4o-mini")
    assert (gpt.provider.kind, gpt.model) == ("openai_chat", "gpt-4o-mini")
    assert gpt.provider.max_tokens_field == "max_completion_tokens"
    assert catalog.route("my-gateway-model").provider.name == "anthropic", "bare ids go to the Messages API"
    assert catalog.route("scripted-echo").provider.kind == "scripted"
    assert catalog.route("openai/unlisted").spec.prices is None
    for bad in ("nope/x", "openai/", "local/model"):
        with pytest.raises(UnknownModel):
            catalog.route(bad)


def test_providers_file_adds_providers_and_overrides_models(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, GOOD)
    qwen = catalog.route("vllm/Qwen/Qwen2.5-7B-Instruct")
    assert qwen.model == "Qwen/Qwen2.5-7B-Instruct", "the model name may itself hold slashes"
    assert (qwen.provider.base_url, qwen.provider.max_tokens_field) == ("http://127.0.0.1:8000/v1", "max_tokens")
    assert (qwen.spec.context_window, qwen.spec.max_output_tokens) == (32768, 4096)
    mini = catalog.route("openai/gpt-5-mini")
    assert (mini.provider.kind, mini.provider.api_key_env) == ("openai_responses", "MY_OPENAI_KEY")
    assert mini.spec.prices == Prices(1.0, 2.0) and mini.spec.context_window == 400_000, "built-in values stay"
    chain = [route.model_id for route in catalog.chain("claude-sonnet-4-6")]
    assert chain == ["claude-sonnet-4-6", "vllm/Qwen/Qwen2.5-7B-Instruct", "openai/gpt-5-mini", "claude-haiku-4-5"]
    assert catalog.unpriced("claude-sonnet-4-6") == []
    assert catalog.unpriced("vllm/other") == ["vllm/other"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[providers.x]\nkind = "openai_chat"\nbase_url = "http://h/v1"\napi_key = "sk-123"', "api_key is not allowed"),
        ('[providers.x]\nkind = "openai_chat"', "needs a kind and a base_url"),
        ('[providers.x]\nkind = "grpc"\nbase_url = "http://h"', "kind"),
        ('[providers.X]\nkind = "openai_chat"\nbase_url = "http://h"', "providers.X"),
        ('[providers.scripted]\nkind = "openai_chat"\nbase_url = "http://h"', "built-in model"),
        ('[providers.anthropic.models.m]\nfallbacks = ["nope/y"]', "unknown provider 'nope'"),
        ('[providers.anthropic.models.m]\nfallbacks = ["a", "b", "c", "d"]', "fallbacks"),
        ("[providers.anthropic.models.m]\ninput_price = 1.0", "together"),
        ('[providers.anthropic.models.m]\ncontext_window = "big"', "context_window"),
        ('[providers.anthropic]\nbase_url = "ftp://x"', "base_url"),
        ("[providers.anthropic", "not valid TOML"),
    ],
)
def test_bad_providers_files_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProvidersFileError) as raised:
        catalog_from(tmp_path, text)
    assert message in str(raised.value) and str(tmp_path) in str(raised.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProvidersFileError, match="cannot be read"):
        ModelCatalog.load(tmp_path / "absent.toml")


def test_costs_are_exact_micro_dollars() -> None:
    sonnet = ModelCatalog.builtin().route("claude-sonnet-4-6").spec.prices
    assert sonnet is not None
    usage = {"input_tokens": 1000, "output_tokens": 100}
    usage |= {"cache_read_input_tokens": 10_000, "cache_creation_input_tokens": 2000}
    # 1000 × 3 + 100 × 15 + 10000 × 0.3 + 2000 × 3.75 micro-dollars
    assert sonnet.cost_micros(usage) == 3000 + 1500 + 3000 + 7500
    assert cents(15_000) == 2 and cents(14_999) == 1 and cents(0) == 0
    assert list_cost(123_456) == {"amount": "12", "currency": "USD"}
    assert cap_micros({"type": "limit", "max_list_cost": {"amount": "2500", "currency": "USD"}}) == 25_000_000
    assert cap_micros(None) is None
