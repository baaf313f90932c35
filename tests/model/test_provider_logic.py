"""The provider-neutral pieces of a model request, without any server: conversions, cache breakpoints, failover
decisions, compaction's choice of what to keep, effort, and error classification."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from activities.model.anthropic_stream import messages_params
from activities.model.caching import cached_messages
from activities.model.compaction import tail_start, transcript
from activities.model.errors import MissingKey, ProviderFailure, classify
from activities.model.failover import Attempt
from activities.model.openai_chat import _ChatFold, chat_params  # pyright: ignore[reportPrivateUsage]
from activities.model.openai_messages import chat_messages
from activities.model.openai_responses import ResponseFailed, input_items
from activities.model.providers import ModelClients
from activities.model.request import ModelRequest, build_request, effort_for
from dma.catalog.catalog import ModelCatalog
from dma.settings import WorkerSettings
from dma.store.tables import SessionEvent

CONVERSATION: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "look at this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "reasoning", "text": "thinking it over"},
            {"type": "text", "text": "Calling bash."},
            {"type": "tool_use", "id": "use-1", "name": "bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "use-2", "name": "read", "input": {"file_path": "a"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "use-1", "content": [{"type": "text", "text": "a.txt"}]},
            {"type": "tool_result", "tool_use_id": "use-2", "content": "nope", "is_error": True},
            {"type": "text", "text": "and now?"},
        ],
    },
]


class Sink:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def thinking_started(self) -> None:
        self.seen.append("thinking")

    def text_started(self, index: int) -> None:
        self.seen.append(f"text:{index}")

    def text_delta(self, index: int, text: str) -> None:
        self.seen.append(f"delta:{index}:{text}")


def test_chat_completions_messages() -> None:
    converted = chat_messages("be brief", CONVERSATION)
    assert [m["role"] for m in converted] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert converted[1]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}
    assistant = converted[2]
    assert assistant["content"] == "Calling bash." and "thinking" not in str(assistant)
    assert [call["id"] for call in assistant["tool_calls"]] == ["use-1", "use-2"]
    assert assistant["tool_calls"][0]["function"] == {"name": "bash", "arguments": '{"command": "ls"}'}
    assert converted[3] == {"role": "tool", "tool_call_id": "use-1", "content": "a.txt"}
    assert converted[4]["content"] == "Error: nope", "errors say so: Chat Completions has no error flag"
    assert converted[5] == {"role": "user", "content": [{"type": "text", "text": "and now?"}]}


def test_responses_input_items() -> None:
    items = input_items(CONVERSATION)
    kinds = [item.get("type") or item["role"] for item in items]
    calls, outputs = ["function_call"] * 2, ["function_call_output"] * 2
    assert kinds == ["user", "assistant", *calls, *outputs, "user"]
    assert items[0]["content"][1] == {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "auto"}
    assert items[2] == {"type": "function_call", "call_id": "use-1", "name": "bash", "arguments": '{"command": "ls"}'}
    assert items[5] == {"type": "function_call_output", "call_id": "use-2", "output": "Error: nope"}


def test_anthropic_params_mark_cache_breakpoints_and_drop_foreign_reasoning() -> None:
    request = ModelRequest("claude-x", CONVERSATION, 100, system="sys", tools=[{"name": "bash"}], effort="low")
    params = messages_params(request)
    assert params["system"] == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    assert params["tools"] == [{"name": "bash"}], "the system breakpoint covers the tools before it"
    assert params["output_config"] == {"effort": "low"} and "speed" not in params
    assistant = params["messages"][1]["content"]
    assert [block["type"] for block in assistant] == ["text", "tool_use", "tool_use"]
    assert params["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert params["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}, "previous user message"
    assert "cache_control" not in str(CONVERSATION), "the log's conversation is not changed"
    no_system = messages_params(ModelRequest("claude-x", CONVERSATION[:1], 100, tools=[{"name": "a"}, {"name": "b"}]))
    assert (
        no_system["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        and "cache_control" not in no_system["tools"][0]
    )


def test_cache_breakpoints_skip_thinking_blocks() -> None:
    thinking = {"type": "thinking", "thinking": "x", "signature": "s"}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "t"}, thinking]},
    ]
    marked = cached_messages(messages)
    assert "cache_control" in marked[1]["content"][0] and "cache_control" not in marked[1]["content"][1]


def test_failover_decisions() -> None:
    catalog = ModelCatalog.builtin()
    chain = [catalog.route("claude-sonnet-4-6"), catalog.route("openai/gpt-4o-mini")]
    overloaded = ProviderFailure("model_overloaded_error", "overloaded", True)
    decisions = [Attempt(chain, 2, number).after(overloaded) for number in range(1, 5)]
    models = [Attempt(chain, 2, number).route.model_id for number in range(1, 5)]
    assert models == ["claude-sonnet-4-6"] * 2 + ["openai/gpt-4o-mini"] * 2
    assert [d.retrying for d in decisions] == [True, True, True, False]
    assert decisions[0].delay == timedelta(seconds=1) and decisions[1].next_model == "openai/gpt-4o-mini"
    assert decisions[2].delay == timedelta(seconds=1), "each model starts its own backoff"
    limited = ProviderFailure("model_rate_limited_error", "slow down", True, timedelta(seconds=7))
    assert Attempt(chain, 3, 1).after(limited).delay == timedelta(seconds=7)
    bad = ProviderFailure("model_request_failed_error", "400", False)
    assert not Attempt(chain, 2, 1).after(bad).retrying, "no failover on a non-retryable error"
    assert Attempt(chain, 2, 5).overdue and not Attempt(chain, 2, 4).overdue


def _row(seq: int, kind: str, text: str = "x" * 400) -> SessionEvent:
    body: dict[str, Any] = {"content": [{"type": "text", "text": text}]} if "message" in kind else {"name": "bash"}
    return SessionEvent(id=f"e{seq}", session_id="s", seq=seq, type=kind, body=body)


def test_compaction_keeps_whole_turns() -> None:
    rows = [
        _row(1, "user.message"),
        _row(2, "session.status_running"),
        _row(3, "agent.message"),
        _row(4, "agent.tool_use"),
        _row(5, "agent.tool_use"),
        _row(6, "agent.tool_result"),
        _row(7, "agent.tool_result"),
        _row(8, "agent.message"),
        _row(9, "user.message"),
        _row(10, "agent.message"),
    ]
    starts = {tail_start(rows, keep) for keep in range(0, 2000, 50)}
    assert starts <= {2, 7, 8, 9, None}, "only where a turn or a model response begins"
    assert tail_start(rows, 10) == 9, "the latest turn start when nothing fits"
    assert tail_start(rows, 10_000) is None, "everything fits: nothing older to summarize"
    assert all(rows[start].type in ("user.message", "agent.message") for start in starts if start is not None)
    assert 3 not in starts and 4 not in starts, "tool calls never lose the message they belong to"
    text = transcript([{"role": "user", "content": [{"type": "text", "text": "hi"}]}, CONVERSATION[1], CONVERSATION[2]])
    assert "User: hi" in text and "[called bash with" in text and "[error result: nope]" in text
    assert "thinking it over" not in text


def test_effort_and_limits_per_model() -> None:
    catalog = ModelCatalog.builtin()
    high, low = {"effort": {"type": "high"}}, {"effort": {"type": "low"}}
    assert effort_for(catalog.route("claude-opus-4-6"), high) == "high", "models that take an effort get it"
    assert effort_for(catalog.route("claude-haiku-4-5"), high) is None, "the default is not sent to others"
    assert effort_for(catalog.route("openai/gpt-4o-mini"), high) is None
    assert effort_for(catalog.route("local-anything"), low) == "low", "an explicit choice is the provider's to judge"
    agent = {"model": {"id": "openai/gpt-4o", "speed": "fast", "effort": {"type": "high"}}, "system": "s"}
    request = build_request(catalog.route("openai/gpt-4o"), agent, [], [], 100_000)
    assert (request.max_tokens, request.speed, request.effort) == (16_384, "fast", None)
    params = chat_params(replace(request, effort="low"), "max_completion_tokens")
    assert params["max_completion_tokens"] == 16_384 and params["reasoning_effort"] == "low"
    assert params["service_tier"] == "priority" and params["stream_options"] == {"include_usage": True}


def _chunk(
    delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
) -> ChatCompletionChunk:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
    return ChatCompletionChunk.model_validate(
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": choices, "usage": usage}
    )


def test_chat_fold_reads_both_reasoning_fields_tool_calls_and_cached_usage() -> None:
    sink = Sink()
    fold = _ChatFold(sink)
    fold.chunk(_chunk({"reasoning": "plan "}))
    fold.chunk(_chunk({"reasoning_content": "more"}))
    fold.chunk(_chunk({"content": "Hel"}))
    fold.chunk(_chunk({"content": "lo"}))
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"comm'}}
    fold.chunk(_chunk({"tool_calls": [call]}))
    fold.chunk(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'and": "ls"}'}}]}))
    fold.chunk(_chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}
    fold.chunk(_chunk({}, usage={**usage, "prompt_tokens_details": {"cached_tokens": 60}}))
    result = fold.finish()
    assert result.thinking_blocks == [{"type": "reasoning", "text": "plan more"}]
    assert result.texts == ["Hello"] and result.stop_reason == "tool_use"
    assert [(c.name, c.input) for c in result.tool_calls] == [("bash", {"command": "ls"})]
    wire = result.usage.as_wire()
    assert (wire["input_tokens"], wire["cache_read_input_tokens"], wire["output_tokens"]) == (40, 60, 7)
    assert sink.seen[:3] == ["thinking", "text:0", "delta:0:Hel"]


def test_openai_failures_are_classified_like_anthropic_ones() -> None:
    request = httpx2.Request("POST", "http://x/v1/chat/completions")
    cases = [
        (529, "model_overloaded_error", True),
        (429, "model_rate_limited_error", True),
        (500, "model_request_failed_error", True),
        (401, "model_request_failed_error", False),
        (400, "model_request_failed_error", False),
    ]
    for status, kind, retryable in cases:
        response = httpx2.Response(status, request=request, headers={"retry-after": "2"})
        failure = classify(openai.APIStatusError("boom", response=response, body=None))
        assert (failure.error_type, failure.retryable, failure.status) == (kind, retryable, status)
        assert failure.retry_after == timedelta(seconds=2)
    assert classify(openai.APIConnectionError(request=request)).retryable
    assert classify(ResponseFailed("busy", "rate_limit_exceeded")).error_type == "model_rate_limited_error"
    assert not classify(MissingKey("no key")).retryable


def test_a_missing_key_variable_is_a_clear_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[providers.x]\nkind = "openai_chat"\nbase_url = "http://h/v1"\napi_key_env = "DMA_TEST_ABSENT"')
    monkeypatch.delenv("DMA_TEST_ABSENT", raising=False)
    clients = ModelClients(WorkerSettings(data_dir=tmp_path))
    route = ModelCatalog.load(path).route("x/m")
    with pytest.raises(MissingKey, match=r"\$DMA_TEST_ABSENT"):
        clients.for_route(route)
    monkeypatch.setenv("DMA_TEST_ABSENT", "k")
    provider: Any = clients.for_route(route)
    assert provider.client.api_key == "k"
