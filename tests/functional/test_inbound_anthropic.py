"""The Anthropic Messages API in front of an OpenAI-compatible provider: the official anthropic SDK against the
gateway, translated both ways over real sockets (issue 13)."""
from __future__ import annotations

import asyncio
import shutil
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import TOOLS_STREAM, Reply
from tests.fakes.recording import recording, sse_events
from tests.fakes.secrets_check import watch_gateway_responses

CLIENT_KEY = "sk-ant-client-own-5ecret"  # what the client sends as its key: never sent upstream
MODEL = "openai/gpt-4o-mini"
HELLO = [{"role": "user", "content": "Tell me a story"}]
WEATHER = {"name": "get_weather", "description": "Current weather",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]}}
REASONING_STREAM = sse_events(recording("openai_reasoning_stream.sse"))
TOOL_COMPLETION = orjson.dumps({
    "id": "chatcmpl-tool", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]}}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35,
              "prompt_tokens_details": {"cached_tokens": 10}}})


@pytest.fixture(autouse=True)
def client_key_never_leaks(monkeypatch, caplog):
    """The client's own key is checked like the provider keys: in every response and every log line."""
    scanner = watch_gateway_responses(monkeypatch, (CLIENT_KEY,))
    yield
    scanner.assert_clean()
    assert CLIENT_KEY not in caplog.text


@pytest.fixture
async def base(gateway, fake_openai) -> str:
    return await gateway(openai_config(fake_openai.base_url))


@pytest.fixture
async def client(base):
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


def event_types(raw: bytes) -> list[str]:
    """The ``event:`` names of an SSE body, in order."""
    return [line[7:].decode() for line in raw.split(b"\n") if line.startswith(b"event: ")]


def collapsed(types: list[str]) -> list[str]:
    """Event types with runs of deltas folded into one: the shape of a stream, whatever its length."""
    out: list[str] = []
    for kind in types:
        if not (out and out[-1] == kind == "content_block_delta"):
            out.append(kind)
    return out


async def post(http: aiohttp.ClientSession, base: str, body: dict[str, Any], path: str = "/anthropic/v1/messages",
               **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with http.post(base + path, json=body, headers={"x-api-key": CLIENT_KEY, **headers}) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_sdk_create_is_translated_both_ways(client, fake_openai):
    message = await client.messages.create(model=MODEL, max_tokens=100, system="Be brief.", messages=HELLO,
                                           stop_sequences=["THE END"], extra_body={"temperature": 0.2},
                                           metadata={"user_id": "u-1"})
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "gpt-4o-mini-2024-07-18"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Once upon a time, in Zürich 🐉."
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 9)
    (seen,) = fake_openai.calls
    assert seen.path == "/v1/chat/completions" and seen.key == TEST_SECRETS[0]
    assert seen.body == {"model": "gpt-4o-mini", "max_tokens": 100, "temperature": 0.2, "stop": ["THE END"],
                         "user": "u-1", "messages": [{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "Tell me a story"}]}
    assert CLIENT_KEY not in str(seen.headers)


async def test_sdk_stream_text_in_anthropics_event_order(client, base, http):
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Once upon a time, in Zürich 🐉."
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 9 and final.usage.input_tokens == 12
    status, headers, raw = await post(http, base, {"model": MODEL, "max_tokens": 100, "messages": HELLO,
                                                   "stream": True})
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    # the order Anthropic's own text stream has (its streaming docs, recorded)
    assert collapsed(event_types(raw)) == collapsed(event_types(recording("anthropic_text.sse")))
    assert event_types(raw).count("content_block_delta") == 4


async def test_sdk_stream_tool_use_and_round_trip(client, base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO, tools=[WEATHER],
                                      tool_choice={"type": "any", "disable_parallel_tool_use": True}) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (tool_use,) = final.content
    assert tool_use.type == "tool_use" and tool_use.name == "get_weather"
    assert tool_use.id == "call_DdmO9pD3xa9XTPNJ32zg2hcA" and tool_use.input == {"location": "Paris"}
    assert fake_openai.calls[0].body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather", "parameters": WEATHER["input_schema"]}}]
    assert fake_openai.calls[0].body["tool_choice"] == "required"
    assert fake_openai.calls[0].body["parallel_tool_calls"] is False
    # the tool's answer goes back as the next user turn
    answer = await client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=[
        *HELLO, {"role": "assistant", "content": [b.model_dump() for b in final.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C"},
                                     {"type": "text", "text": "And tomorrow?"}]}])
    assert answer.content[0].text == "Once upon a time, in Zürich 🐉."
    assert fake_openai.calls[-1].body["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": tool_use.id, "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": tool_use.id, "content": "18°C"},
        {"role": "user", "content": "And tomorrow?"}]
    fake_openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    status, _, raw = await post(http, base, {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True,
                                             "tools": [WEATHER]})
    assert status == 200
    assert collapsed(event_types(raw)) == ["message_start", "content_block_start", "ping", "content_block_delta",
                                           "content_block_stop", "message_delta", "message_stop"]


async def test_non_stream_tool_use_and_cached_usage(client, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(body=TOOL_COMPLETION))
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, tools=[WEATHER])
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.id, b.name, b.input) for b in message.content] == [
        ("tool_use", "call_1", "get_weather", {"location": "Paris"})]
    assert message.usage.input_tokens == 20 and message.usage.cache_read_input_tokens == 10
    assert message.usage.output_tokens == 5


async def test_reasoning_streams_as_thinking_blocks(client, base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(events=REASONING_STREAM))
    async with client.messages.stream(model=MODEL, max_tokens=1000, messages=HELLO) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking.endswith("147 = 7 × 21 + 0")
    assert final.content[1].text == "The greatest common divisor of 1071 and 462 is **21**."
    assert final.usage.output_tokens == 96 and final.usage.input_tokens == 18
    status, _, raw = await post(http, base, {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True})
    assert status == 200
    # the order of Anthropic's own extended-thinking stream (its docs' sample has no ping; pings may come anywhere)
    assert [t for t in collapsed(event_types(raw)) if t != "ping"] == \
        collapsed(event_types(recording("anthropic_thinking.sse")))
    kinds = [orjson.loads(line[6:])["delta"]["type"] for line in raw.split(b"\n")
             if line.startswith(b"data: ") and b'"content_block_delta"' in line]
    assert kinds == ["thinking_delta"] * 4 + ["text_delta"] * 2


async def test_images_and_documents_are_translated(client, fake_openai):
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    await client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Some notes"}},
        {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}}]}])
    assert fake_openai.calls[0].body["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "Some notes"},
        {"type": "text", "text": "What is this?"}]}]


async def test_errors_come_in_anthropics_shape(client, base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(status=503, error_message="busy"),
                      Reply(status=429, error_message="slow down", error_type="rate_limit_error",
                            headers={"Retry-After": "7"}))
    with pytest.raises(anthropic.APIStatusError) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.status_code == 529
    assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert info.value.response.headers["Retry-After"] == "7"
    with pytest.raises(anthropic.NotFoundError, match="unknown provider"):
        await client.messages.create(model="nope/some-model", max_tokens=10, messages=HELLO)


@pytest.mark.parametrize("body, param", [
    (b"{not json", None),
    (b"[]", None),
    (orjson.dumps({"max_tokens": 5, "messages": HELLO}), "model"),
    (orjson.dumps({"model": MODEL, "messages": HELLO}), "max_tokens"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": []}), "messages"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
     "messages[0].role"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [{"text": "x"}]}]}),
     "messages[0].content[0]"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": HELLO, "stream": "yes"}), "stream"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": HELLO,
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}), "tools[0].type"),
    (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": HELLO, "tool_choice": {"type": "any"},
                   "tools": [{"name": "t"}]}), "tools[0].input_schema"),
])
async def test_bad_requests_get_a_400_naming_the_field(base, http, fake_openai, body, param):
    async with http.post(f"{base}/anthropic/v1/messages", data=body,
                         headers={"content-type": "application/json"}) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    if param is not None:
        assert param in answer["error"]["message"]
    assert fake_openai.calls == []


async def test_mid_stream_failure_is_one_error_event_and_no_message_stop(base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(reset_after=3))
    status, _, raw = await post(http, base, {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True})
    assert status == 200
    types = event_types(raw)
    assert types[:2] == ["message_start", "content_block_start"] and types[-1] == "error"
    assert types.count("error") == 1 and "message_stop" not in types and "message_delta" not in types
    error = orjson.loads(raw.rstrip(b"\n").rsplit(b"\n", 1)[1][6:])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "mid-stream" in error["error"]["message"]


async def test_sdk_raises_on_a_mid_stream_failure(client, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(garbage_after=2))
    with pytest.raises(anthropic.APIStatusError, match="malformed"):
        async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
            async for _ in stream:
                pass


async def test_model_aliases_send_claude_names_anywhere(gateway, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["model_aliases"] = {"claude-sonnet-4-5*": "openai/gpt-4o-mini"}
    base = await gateway(config)
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=CLIENT_KEY, max_retries=0) as client:
        message = await client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10, messages=HELLO)
    assert message.content[0].text == "Once upon a time, in Zürich 🐉."
    assert fake_openai.calls[0].body["model"] == "gpt-4o-mini"
    # a bare name without an alias goes to the anthropic provider, which this gateway does not have
    status, _, raw = await post(http, base, {"model": "claude-opus-4-1", "max_tokens": 5, "messages": HELLO})
    assert status == 404 and orjson.loads(raw)["error"]["type"] == "not_found_error"


async def test_count_tokens_is_estimated_for_other_providers(client, fake_openai):
    short = await client.messages.count_tokens(model=MODEL, messages=HELLO)
    longer = await client.messages.count_tokens(model=MODEL, system="You are a careful assistant. " * 20,
                                                messages=HELLO, tools=[WEATHER])
    assert 0 < short.input_tokens < longer.input_tokens
    assert fake_openai.calls == []


async def test_each_event_reaches_the_client_before_the_upstream_sends_the_next(base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=2))  # role chunk and "Once", then wait for the gate
    async with http.post(f"{base}/anthropic/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": HELLO,
                                                               "stream": True}) as resp:
        seen = b""
        while b'"text":"Once"' not in seen:
            seen += await resp.content.readany()
        assert not fake_openai.gate.is_set()  # the upstream is still holding " upon"
        fake_openai.gate.set()
        rest = await resp.read()
    assert event_types(seen + rest)[-1] == "message_stop"


async def test_a_stalled_stream_ends_with_a_timeout_error_event(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url, stream_idle_timeout_in_seconds=0.05))
    fake_openai.queue("gpt-4o-mini", Reply(hang_after=2))
    status, _, raw = await post(http, base, {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True})
    assert status == 200 and event_types(raw)[-1] == "error" and "message_stop" not in event_types(raw)
    assert b'"type":"timeout_error"' in raw and b"stream_idle_timeout_in_seconds" in raw


async def test_a_client_that_leaves_cancels_the_upstream(base, http, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(hang_after=2))
    resp = await http.post(f"{base}/anthropic/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": HELLO,
                                                                  "stream": True})
    assert resp.status == 200 and b"message_start" in await resp.content.readany()
    resp.close()
    await asyncio.wait_for(fake_openai.client_gone.wait(), 5)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")
async def test_readme_curl_example(base):
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/anthropic/v1/messages", "-H", "content-type: application/json",
        "-H", "anthropic-version: 2023-06-01", "-d",
        '{"model":"openai/gpt-4o-mini","max_tokens":256,"stream":true,'
        '"messages":[{"role":"user","content":"Tell me a story"}]}', stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert out.startswith(b"event: message_start\n")
    assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
