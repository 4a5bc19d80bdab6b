"""The anthropic wire type through the gateway, over real sockets, against the fake Messages API."""
from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import OVERLOADED_STREAM, FakeAnthropic, Reply

MODEL = "claude-3-5-haiku-latest"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
CHAT = {"model": f"anthropic/{MODEL}", "messages": MESSAGES}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}


@pytest.fixture
async def fake_anthropic(serve_app) -> FakeAnthropic:
    fake = FakeAnthropic(valid_keys={TEST_SECRETS[0]})
    fake.base_url = await serve_app(fake.app)
    return fake


def anthropic_config(base_url: str, **network: Any) -> dict[str, Any]:
    return {"providers": {"anthropic": {
        "keys": [{"name": "primary", "value": TEST_SECRETS[0]}],
        "network_config": {"base_url": base_url, **network},
    }}}


@pytest.fixture
async def base(gateway, fake_anthropic) -> str:
    return await gateway(anthropic_config(fake_anthropic.base_url))


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as c:
        yield c


def sse_data(raw: bytes) -> list[bytes]:
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    return [e[6:] for e in events]


async def test_non_stream_translates_request_and_answer(base, fake_anthropic, http):
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "fallbacks": []}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["object"] == "chat.completion" and body["model"] == "claude-3-7-sonnet-20250219"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi! My name is Claude."}
    assert body["usage"]["prompt_tokens"] == 2095 and body["usage"]["completion_tokens"] == 503
    (seen,) = fake_anthropic.calls
    assert seen.path == "/v1/messages" and seen.key == TEST_SECRETS[0]
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.body == {"model": MODEL, "max_tokens": 8192, "system": [{"type": "text", "text": "Be brief."}],
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}


async def test_stream_is_translated_to_openai_chunks(base, fake_anthropic, http):
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["X-Accel-Buffering"] == "no"
        raw = await resp.read()
    data = sse_data(raw)
    assert data[-1] == b"[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", chunks[0]["created"], "claude-opus-4-6", "chat.completion.chunk")}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello!"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert fake_anthropic.calls[0].body["stream"] is True


async def test_first_chunk_reaches_the_client_before_the_upstream_sends_more(base, fake_anthropic, http):
    fake_anthropic.queue(MODEL, Reply(gate_after=1))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert orjson.loads(sse_data(first)[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert not fake_anthropic.gate.is_set()
        fake_anthropic.gate.set()
        rest = await resp.read()
    assert rest.endswith(b"data: [DONE]\n\n")


async def test_sdk_plain_text(client):
    result = await client.chat.completions.create(model=f"anthropic/{MODEL}", messages=MESSAGES)
    assert result.choices[0].message.content == "Hi! My name is Claude."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.total_tokens == 2598


async def test_sdk_stream_text_with_usage(client):
    stream = await client.chat.completions.create(model=f"anthropic/{MODEL}", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert (text, finish) == ("Hello!", "stop")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (25, 15)


async def test_sdk_tools_non_stream(client, fake_anthropic):
    result = await client.chat.completions.create(model=f"anthropic/{MODEL}", messages=MESSAGES, tools=[WEATHER],
                                                  tool_choice="required")
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.id, call.function.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert orjson.loads(call.function.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    sent = fake_anthropic.calls[0].body
    assert sent["tools"][0]["input_schema"] == WEATHER["function"]["parameters"]
    assert sent["tool_choice"] == {"type": "any"}


async def test_sdk_tools_stream(client):
    stream = await client.chat.completions.create(model=f"anthropic/{MODEL}", messages=MESSAGES, tools=[WEATHER],
                                                  stream=True)
    ids, name, arguments, finish = set(), "", "", None
    async for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            assert call.index == 0
            ids.add(call.id)
            name += call.function.name or ""
            arguments += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert ids - {None} == {"toolu_01T1x1fJ34qAmk2tNTrN7Up6"} and name == "get_weather"
    assert orjson.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert finish == "tool_calls"


@pytest.mark.parametrize("upstream, etype, status, out_type", [
    (400, "invalid_request_error", 400, "invalid_request_error"),
    (401, "authentication_error", 401, "authentication_error"),
    (403, "permission_error", 403, "permission_error"),
    (404, "not_found_error", 404, "not_found_error"),
    (529, "overloaded_error", 503, "api_error"),
])
async def test_error_statuses(base, fake_anthropic, http, upstream, etype, status, out_type):
    fake_anthropic.queue(MODEL, Reply(status=upstream, error_type=etype, error_message="upstream says no"))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == status
        text = await resp.text()
    error = orjson.loads(text)["error"]
    assert error["type"] == out_type and "upstream says no" in error["message"]
    assert TEST_SECRETS[0] not in text


async def test_rate_limit_passes_retry_after_on(base, fake_anthropic, http):
    fake_anthropic.queue(MODEL, Reply(status=429, error_type="rate_limit_error", error_message="slow down",
                                      headers={"Retry-After": "7"}))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        error = (await resp.json())["error"]
    assert (error["type"], error["message"]) == ("rate_limit_error", "slow down")


async def test_sdk_sees_typed_errors(client, fake_anthropic):
    fake_anthropic.queue(MODEL, Reply(status=529, error_type="overloaded_error", error_message="Overloaded"))
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model=f"anthropic/{MODEL}", messages=MESSAGES)
    assert info.value.status_code == 503


async def test_a_wrong_key_is_refused_without_showing_it(gateway, fake_anthropic, http):
    fake_anthropic.valid_keys = {"some-other-key"}
    base = await gateway(anthropic_config(fake_anthropic.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 401
        text = await resp.text()
    assert "primary" in text and TEST_SECRETS[0] not in text


async def test_error_event_mid_stream_ends_with_one_error_event_and_no_done(base, fake_anthropic, http):
    fake_anthropic.queue(MODEL, Reply(events=OVERLOADED_STREAM))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 200
        raw = await resp.read()
    data = sse_data(raw)
    assert b"[DONE]" not in raw
    deltas = [orjson.loads(d)["choices"][0]["delta"] for d in data[:-1]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hello"}]
    error = orjson.loads(data[-1])["error"]
    assert (error["message"], error["code"]) == ("Overloaded", "overloaded_error")


async def test_error_event_before_any_content_is_a_status(base, fake_anthropic, http):
    fake_anthropic.queue(MODEL, Reply(events=OVERLOADED_STREAM[-1:]))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "overloaded_error"


async def test_stream_cut_before_message_stop_ends_with_an_error_event(base, fake_anthropic, http):
    fake_anthropic.queue(MODEL, Reply(stop_after=5))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 200
        raw = await resp.read()
    data = sse_data(raw)
    assert b"[DONE]" not in raw
    assert orjson.loads(data[-1])["error"]["code"] == "stream_incomplete"


async def test_parameters_anthropic_cannot_honour_are_refused_before_any_upstream_call(base, fake_anthropic, http):
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "n": 3}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "n")
    assert not fake_anthropic.calls


async def test_embeddings_are_not_served(base, fake_anthropic, http):
    async with http.post(f"{base}/v1/embeddings", json={"model": f"anthropic/{MODEL}", "input": "x"}) as resp:
        assert resp.status == 404
    assert not fake_anthropic.calls
