"""The providers file every test stack runs with: providers and models that point at the fake model server.

- ``local/…``: an OpenAI-compatible server (Chat Completions), its key in ``$DMA_TEST_LOCAL_KEY``;
- ``resp/…``: the same server through the Responses API (the opt-in kind);
- ``local/tiny``: a model with a small context window, for compaction;
- ``local/pricey``: a priced model for budgets (20 $/MTok in, 100 $/MTok out: a cent every ~500 tokens);
- ``anthropic/claude-flaky`` → ``local/backup`` (and ``claude-flaky-chain`` → two fallbacks): failover.
"""

from __future__ import annotations

from pathlib import Path

LOCAL_KEY_ENV = "DMA_TEST_LOCAL_KEY"
LOCAL_KEY = "local-secret-key"
TINY_WINDOW = 3000
TINY_OUTPUT = 300

TEMPLATE = """
[providers.local]
kind = "openai_chat"
base_url = "{url}/v1"
api_key_env = "{key_env}"

[providers.local.models.tiny]
context_window = {tiny_window}
max_output_tokens = {tiny_output}
input_price = 1.0
output_price = 2.0

[providers.local.models.pricey]
input_price = 20.0
output_price = 100.0

[providers.local.models.backup]
input_price = 0.5
output_price = 1.5

[providers.resp]
kind = "openai_responses"
base_url = "{url}/v1"

[providers.anthropic.models.claude-flaky]
fallbacks = ["local/backup"]

[providers.anthropic.models.claude-flaky-chain]
fallbacks = ["openai/gpt-4o-mini", "local/backup"]

[providers.anthropic.models.claude-tiny]
context_window = {tiny_window}
max_output_tokens = {tiny_output}
"""


def write_providers_file(directory: Path, model_url: str) -> Path:
    """Write the test providers file into ``directory`` and return its path."""
    path = directory / "providers.toml"
    path.write_text(
        TEMPLATE.format(url=model_url, key_env=LOCAL_KEY_ENV, tiny_window=TINY_WINDOW, tiny_output=TINY_OUTPUT),
        encoding="utf-8",
    )
    return path
