"""The scripted model and the fake model server, driven through the real anthropic and openai SDK clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from activities.model.scripted import (
    ScriptedReply,
    ScriptedToolUse,
    ScriptedTransport,
    is_scripted_model,
    openai_request_to_anthropic,
    plan_reply,
)
from activities.model.scripted_wire import anthropic_message_json, anthropic_sse_events, openai_chat_chunks

from .model_server import FakeModelServer

REPO_ROOT = Path(__file__).resolve().parents[2]
BASH_TOOL = {"name": "bash", "description": "Run a command", "input_schema": {"type": "object"}}


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def server(running_server: FakeModelServer) -> FakeModelServer:
    running_server.reset()
    return running_server


@pytest.fixture
def claude(server: FakeModelServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0)


@pytest.fixture
def gpt(server: FakeModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="test-key", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# --- the planner ---------------------------------------------------------------------------------------------------


def test_default_reply_echoes_the_prompt_without_directives() -> None:
    reply = plan_reply({"messages": user("hello [[think]] there"), "max_tokens": 100})
    assert reply.text == "You said: hello there"
    assert reply.stop_reason == "end_turn"
    assert reply.thinking is not None
    assert reply.usage is not None and reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0


def test_plan_is_deterministic() -> None:
    request = {"messages": user('go [[tool:bash {"cmd": "ls"}]]'), "max_tokens": 100}
    assert plan_reply(request) == plan_reply(json.loads(json.dumps(request)))


def test_tool_directive_then_tool_result_makes_two_calls() -> None:
    messages = user('list files [[tool:bash {"cmd": "ls ]] -la"}]] [[tool:read]]')
    first = plan_reply({"messages": messages})
    assert first.stop_reason == "tool_use"
    assert [(t.name, t.input) for t in first.tool_uses] == [("bash", {"cmd": "ls ]] -la"}), ("read", {})]
    assert all(t.id.startswith("toolu_") for t in first.tool_uses)
    assistant = [{"type": "text", "text": first.text}] + [
        {"type": "tool_use", "id": t.id, "name": t.name, "input": t.input} for t in first.tool_uses
    ]
    results = [
        {"type": "tool_result", "tool_use_id": first.tool_uses[0].id, "content": "a.txt\n" + "x" * 300},
        {"type": "tool_result", "tool_use_id": first.tool_uses[1].id, "content": [{"type": "text", "text": "body"}]},
    ]
    messages = [*messages, {"role": "assistant", "content": assistant}, {"role": "user", "content": results}]
    second = plan_reply({"messages": messages})
    assert second.stop_reason == "end_turn" and not second.tool_uses
    assert second.text == "Tool bash returned: " + ("a.txt\n" + "x" * 300)[:200] + "\nTool read returned: body"


def test_directives_refuse_error_long_slow_and_max_tokens() -> None:
    assert plan_reply({"messages": user("[[refuse]] do it")}).stop_reason == "refusal"
    error = plan_reply({"messages": user("[[error:429]]")})
    assert (error.error_status, error.retry_after) == (429, 0.0)
    assert plan_reply({"messages": user("[[error:529:2.5]]")}).retry_after == 2.5
    assert len(plan_reply({"messages": user("[[long:50]]")}).text.split()) == 50
    assert plan_reply({"messages": user("[[slow:2]] hi")}).chunk_delay == pytest.approx(0.2)
    cut = plan_reply({"messages": user("[[long:500]]"), "max_tokens": 10})
    assert cut.stop_reason == "max_tokens" and len(cut.text) <= 40


def test_malformed_directives_stay_in_the_text() -> None:
    assert plan_reply({"messages": user("a [[slow]] [[tool:x {bad]] [[thinking]]")}).text == (
        "You said: a [[slow]] [[tool:x {bad]] [[thinking]]"
    )


def test_enqueued_reply_derives_stop_reason_and_per_response_tool_ids() -> None:
    reply = ScriptedReply(tool_uses=[ScriptedToolUse("bash", {"cmd": "ls"})])
    assert reply.stop_reason == "tool_use"
    ids = {anthropic_message_json(reply, "m", message_id)["content"][0]["id"] for message_id in ("msg_1", "msg_2")}
    assert len(ids) == 2 and all(i.startswith("toolu_") for i in ids)


def test_scripted_model_ids() -> None:
    assert is_scripted_model("scripted") and is_scripted_model("scripted-echo")
    assert not is_scripted_model("scriptedx") and not is_scripted_model("claude-sonnet-4-5")


def test_openai_request_converts_for_the_planner() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "[[tool:bash {}]]"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}],
        "max_completion_tokens": 64,
    }
    converted = openai_request_to_anthropic(body)
    assert converted["system"] == "be brief" and converted["max_tokens"] == 64
    assert converted["tools"][0]["name"] == "bash"
    assert plan_reply(converted).text == "Tool bash returned: done"


def test_stream_encodings_concatenate_to_the_reply() -> None:
    reply = plan_reply({"messages": user("[[long:40]] [[think]]")})
    events = list(anthropic_sse_events(reply, "scripted"))
    assert [e for e, _ in events][:2] == ["message_start", "ping"] and events[-1][0] == "message_stop"
    text = "".join(d["delta"].get("text", "") for e, d in events if e == "content_block_delta")
    assert text == reply.text and sum(1 for e, d in events if d.get("delta", {}).get("type") == "text_delta") > 5
    chunks = list(openai_chat_chunks(reply, "m", include_usage=True))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == reply.text and chunks[-1]["usage"]["completion_tokens"] > 0


# --- the fake server through the anthropic SDK ----------------------------------------------------------------------


def test_anthropic_streaming_text(server: FakeModelServer, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="scripted", max_tokens=1024, messages=user("[[long:30]]")) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) > 1 and "".join(deltas) == final.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    [recorded] = server.wait_for_requests(1)
    assert recorded.path == "/v1/messages" and recorded.body["stream"] is True
    assert recorded.headers["authorization"] == "Bearer test-key"  # the 2.x SDK sends the key as a bearer token
    assert recorded.first_byte_at is not None and recorded.first_byte_at >= recorded.arrived_at
    assert server.first_byte_times == [recorded.first_byte_at] and recorded.finished_at is not None


def test_anthropic_non_streaming_and_models(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="scripted", max_tokens=1024, messages=user("hi"))
    assert message.content[0].type == "text" and message.content[0].text == "You said: hi"
    assert "scripted" in [m.id for m in claude.models.list()]


def test_anthropic_streaming_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    messages = user('check [[tool:bash {"cmd": "ls -la", "timeout": 30}]]')
    with claude.messages.stream(model="scripted", max_tokens=1024, messages=messages, tools=[BASH_TOOL]) as stream:
        first = stream.get_final_message()
    tool_use = first.content[-1]
    assert first.stop_reason == "tool_use"
    assert (
        tool_use.type == "tool_use" and tool_use.name == "bash" and tool_use.input == {"cmd": "ls -la", "timeout": 30}
    )
    result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "total 0"}
    messages += [{"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    with claude.messages.stream(model="scripted", max_tokens=1024, messages=messages, tools=[BASH_TOOL]) as stream:
        second = stream.get_final_message()
    assert second.stop_reason == "end_turn" and second.content[0].text == "Tool bash returned: total 0"


def test_anthropic_thinking_block(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="scripted", max_tokens=1024, messages=user("why? [[think]]")) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text == "You said: why?"


def test_anthropic_error_maps_to_sdk_exception(server: FakeModelServer, claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as rate_limited:
        claude.messages.create(model="scripted", max_tokens=10, messages=user("[[error:429]]"))
    assert rate_limited.value.response.headers["retry-after"] == "0"
    assert rate_limited.value.body["error"]["type"] == "rate_limit_error"
    server.enqueue(ScriptedReply(error_status=529, retry_after=3, error_message="Overloaded"))
    with (
        pytest.raises(anthropic.OverloadedError) as overloaded,
        claude.messages.stream(model="scripted", max_tokens=10, messages=user("hi")),
    ):
        pass
    assert overloaded.value.response.headers["retry-after"] == "3"
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="scripted", max_tokens=10, messages=user("[[error:400]]"))


def test_enqueue_is_fifo_then_falls_back(server: FakeModelServer, claude: anthropic.Anthropic) -> None:
    server.enqueue(ScriptedReply(text="one"), lambda body: ScriptedReply(text=f"{len(body['messages'])} msgs"))
    texts = [claude.messages.create(model="m", max_tokens=10, messages=user("x")).content[0].text for _ in range(3)]
    assert texts == ["one", "1 msgs", "You said: x"]
    server.set_default(lambda body: ScriptedReply(text="default"))
    assert claude.messages.create(model="m", max_tokens=10, messages=user("x")).content[0].text == "default"
    server.reset()
    assert server.requests == [] and server.first_byte_times == []
    assert claude.messages.create(model="m", max_tokens=10, messages=user("x")).content[0].text == "You said: x"


def test_slow_stream_trickles_and_survives_disconnect(server: FakeModelServer) -> None:
    arrivals: list[float] = []
    with (
        httpx2.Client(base_url=server.url) as http,
        http.stream(
            "POST",
            "/v1/messages",
            json={"model": "m", "max_tokens": 50, "stream": True, "messages": user("[[slow:1]] hi")},
        ) as response,
    ):
        for _ in response.iter_raw():
            arrivals.append(time.monotonic())
    assert arrivals[-1] - arrivals[0] > 0.6 and len(arrivals) >= 8

    server.enqueue(ScriptedReply(text="never finished " * 20, chunk_delay=0.5))
    with (
        httpx2.Client(base_url=server.url) as http,
        http.stream(
            "POST", "/v1/messages", json={"model": "m", "max_tokens": 50, "stream": True, "messages": user("x")}
        ) as response,
    ):
        next(response.iter_raw())
    claude = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    assert claude.messages.create(model="m", max_tokens=10, messages=user("still up")).content[0].text
    assert server.requests[1].finished_at is None


def test_serves_other_processes(server: FakeModelServer) -> None:
    script = (
        "import anthropic\n"
        "m = anthropic.Anthropic(max_retries=0).messages.create(model='scripted', max_tokens=10,"
        " messages=[{'role': 'user', 'content': 'from a subprocess'}])\n"
        "print(m.content[0].text)\n"
    )
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sub-key"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "You said: from a subprocess", done.stderr
    assert server.requests[0].headers["authorization"] == "Bearer sub-key"


# --- the fake server through the openai SDK -------------------------------------------------------------------------


def test_openai_streaming_tool_calls(server: FakeModelServer, gpt: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=user('weather? [[tool:get_weather {"city": "Paris"}]]'),
        tools=tools,
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict[str, str]] = {}
    finish_reason, usage = None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish_reason = choice.finish_reason or finish_reason
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.id or ""
                entry["name"] += (call.function and call.function.name) or ""
                entry["arguments"] += (call.function and call.function.arguments) or ""
    assert finish_reason == "tool_calls" and usage is not None and usage.completion_tokens > 0
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert server.requests[0].path == "/v1/chat/completions"

    follow_up = [
        *user('weather? [[tool:get_weather {"city": "Paris"}]]'),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": calls[0]["id"], "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]
    completion = gpt.chat.completions.create(model="gpt-4o-mini", messages=follow_up, tools=tools)
    assert completion.choices[0].message.content == "Tool get_weather returned: sunny"
    assert completion.choices[0].finish_reason == "stop"


def test_openai_streaming_text_and_errors(gpt: openai.OpenAI) -> None:
    stream = gpt.chat.completions.create(model="m", messages=user("[[long:20]]"), stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert len(text.split()) == 20
    with pytest.raises(openai.RateLimitError) as rate_limited:
        gpt.chat.completions.create(model="m", messages=user("[[error:429]]"))
    assert rate_limited.value.response.headers["retry-after"] == "0"
    with pytest.raises(openai.InternalServerError):
        gpt.chat.completions.create(model="m", messages=user("[[error:529]]"), stream=True)


# --- the in-process transport ---------------------------------------------------------------------------------------


async def test_scripted_transport_drives_async_anthropic() -> None:
    async with httpx2.AsyncClient(transport=ScriptedTransport()) as http:
        client = anthropic.AsyncAnthropic(
            api_key="scripted", base_url="http://scripted.local", http_client=http, max_retries=0
        )
        messages = user('[[think]] go [[tool:bash {"cmd": "pwd"}]]')
        async with client.messages.stream(model="scripted", max_tokens=1024, messages=messages) as stream:
            first = await stream.get_final_message()
        assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
        assert first.content[2].input == {"cmd": "pwd"} and first.stop_reason == "tool_use"

        started = time.monotonic()
        raw = await client.messages.create(
            model="scripted", max_tokens=1024, messages=user("[[slow:0.5]] hello"), stream=True
        )
        deltas = [
            event.delta.text
            async for event in raw
            if event.type == "content_block_delta" and event.delta.type == "text_delta"
        ]
        assert "".join(deltas) == "You said: hello" and len(deltas) == 10 and time.monotonic() - started >= 0.45

        message = await client.messages.create(model="scripted-echo", max_tokens=1024, messages=user("plain"))
        assert message.content[0].text == "You said: plain" and message.model == "scripted-echo"
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(model="scripted", max_tokens=10, messages=user("[[error:529]]"))


# --- the Responses API, the prompt cache and context windows ----------------------------------------------------------


def test_responses_streaming_text_reasoning_and_tool_calls(gpt: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "name": "bash", "parameters": {"type": "object"}}]
    stream = gpt.responses.create(
        model="m", input='[[think]] go [[tool:bash {"command": "ls"}]]', tools=tools, stream=True
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds and "response.output_text.delta" in kinds
    [call] = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
    assert call.name == "bash" and json.loads(call.arguments) == {"command": "ls"}
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.usage is not None and completed.usage.input_tokens > 0
    result: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "a.txt"}]
    called = {"type": "function_call", "call_id": call.call_id, "name": "bash", "arguments": "{}"}
    history: Any = [{"role": "user", "content": "go"}, called, *result]
    reply = gpt.responses.create(model="m", input=history)
    assert reply.output_text == "Tool bash returned: a.txt"


def test_responses_errors_map_to_sdk_exceptions(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        gpt.responses.create(model="m", input="[[error:429]]", stream=True)


def test_prompt_cache_reads_what_breakpoints_wrote(claude: anthropic.Anthropic) -> None:
    system: Any = [{"type": "text", "text": "s" * 400, "cache_control": {"type": "ephemeral"}}]
    first = claude.messages.create(model="m", max_tokens=64, system=system, messages=user("hello"))
    assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
    again = claude.messages.create(model="m", max_tokens=64, system=system, messages=user("other"))
    assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert again.usage.input_tokens > 0 and not again.usage.cache_creation_input_tokens
    unmarked = claude.messages.create(model="m", max_tokens=64, system="s" * 400, messages=user("other"))
    assert not unmarked.usage.cache_read_input_tokens, "without a breakpoint nothing is read"


def test_openai_prompt_cache_counts_cached_tokens(gpt: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "q" * 400}]
    first = gpt.chat.completions.create(model="m", messages=messages)
    follow: Any = [*messages, {"role": "assistant", "content": "a"}, {"role": "user", "content": "more"}]
    second = gpt.chat.completions.create(model="m", messages=follow)
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens_details is not None and first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details is not None
    assert 0 < second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens


def test_context_windows_refuse_what_does_not_fit(
    server: FakeModelServer, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    server.context_windows["small"] = 200
    claude.messages.create(model="small", max_tokens=50, messages=user("short"))
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        claude.messages.create(model="small", max_tokens=50, messages=user("long " * 200))
    with pytest.raises(openai.BadRequestError, match="prompt is too long"):
        gpt.chat.completions.create(model="small", max_tokens=150, messages=[{"role": "user", "content": "x" * 300}])
