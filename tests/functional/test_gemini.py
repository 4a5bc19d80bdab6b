"""The gemini wire type through the gateway, over real sockets, driven by the openai SDK against FakeGoogle."""
from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.gemini import CUT_STREAM, TEXT_STREAM, FakeGoogle, Reply, vector

MODEL = "gemini-2.5-flash"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A poem about two cats"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
POEM = "Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴),\nnap in the sun 🐈☀️ and dream of mice."


@pytest.fixture
async def fake(serve_app) -> FakeGoogle:
    fake = FakeGoogle(api_keys=(TEST_SECRETS[0],))
    fake.base_url = await serve_app(fake.app)
    return fake


def gemini_config(fake: FakeGoogle, *keys: str, **network: Any) -> dict[str, Any]:
    return {"providers": {"gemini": {
        "keys": [{"name": f"key{i}", "value": value} for i, value in enumerate(keys or (TEST_SECRETS[0],))],
        "network_config": {"base_url": fake.base_url, **network},
    }}}


@pytest.fixture
async def base(gateway, fake) -> str:
    return await gateway(gemini_config(fake))


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as c:
        yield c


async def test_plain_text(client, fake):
    answer = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, temperature=0.3,
                                                  max_completion_tokens=200)
    assert answer.model == MODEL and answer.object == "chat.completion"
    message = answer.choices[0].message
    assert message.content == POEM and answer.choices[0].finish_reason == "stop"
    assert message.model_extra["reasoning_content"].startswith("**Counting the cats**")
    assert answer.usage.prompt_tokens == 11 and answer.usage.completion_tokens == 67
    assert answer.usage.total_tokens == 78
    assert answer.usage.completion_tokens_details.reasoning_tokens == 40
    assert answer.usage.prompt_tokens_details.cached_tokens == 4
    (seen,) = fake.calls
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == TEST_SECRETS[0]
    assert seen.body == {"contents": [{"role": "user", "parts": [{"text": "A poem about two cats"}]}],
                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                         "generationConfig": {"temperature": 0.3, "maxOutputTokens": 200}}


async def test_stream_with_usage(client, fake):
    stream = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert len({(c.id, c.created, c.model) for c in chunks}) == 1 and chunks[0].model == MODEL
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == POEM
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.model_extra["reasoning_content"].startswith("**Counting")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 78
    (seen,) = fake.calls
    assert seen.method == "streamGenerateContent" and seen.query == {"alt": "sse"}


async def test_stream_wire_bytes_end_with_done(base, http):
    body = {"model": f"gemini/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        raw = await resp.read()
    events = raw.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    assert b'"usage"' not in raw  # not asked for
    # one chunk per upstream event with text (the last one has none), then the finish chunk
    assert len(events) - 2 == (len(TEXT_STREAM) - 1) + 1


async def test_first_chunk_reaches_the_client_before_the_upstream_sends_the_second(base, fake, http):
    fake.queue(MODEL, Reply(hang_after=1))
    body = {"model": f"gemini/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
    assert b"reasoning_content" in first


async def test_tools_round_trip(client, fake):
    answer = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, tools=[WEATHER],
                                                  tool_choice="auto")
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Zürich", "unit": "celsius"}), ("get_time", {"timezone": "Europe/Zurich"})]
    assert calls[0].id != calls[1].id
    assert fake.calls[0].body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Current weather", "parametersJsonSchema": WEATHER["function"]["parameters"]}]}]
    assert fake.calls[0].body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    # the client sends the assistant turn back as the SDK gave it, with the tool results
    follow_up = [*MESSAGES, choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 21}'},
                 {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"}]
    await client.chat.completions.create(model=f"gemini/{MODEL}", messages=follow_up, tools=[WEATHER])
    contents = fake.calls[1].body["contents"]
    assert contents[1]["role"] == "model"
    assert contents[1]["parts"][0]["thoughtSignature"] == "CiQB0e2Kb3Jk1ZxYq0p9mE1T0c2lnbmF0dXJlLWV4YW1wbGU="
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}}]}


async def test_tools_stream(client):
    stream = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, tools=[WEATHER],
                                                  stream=True)
    chunks = [c async for c in stream]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(tc.index, tc.function.name) for tc in calls] == [(0, "get_weather"), (1, "get_time")]
    assert all(tc.id and tc.function.arguments for tc in calls)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("reply,exc,status", [
    (Reply(status=400, error_status="INVALID_ARGUMENT", error_message="bad temperature"), openai.BadRequestError, 400),
    (Reply(status=403, error_status="PERMISSION_DENIED", error_message="no access"), openai.PermissionDeniedError, 403),
    (Reply(status=404, error_status="NOT_FOUND", error_message="no such model"), openai.NotFoundError, 404),
    (Reply(status=503, error_status="UNAVAILABLE", error_message="overloaded"), openai.InternalServerError, 503),
    (Reply(status=500, error_status="INTERNAL", error_message="internal"), openai.InternalServerError, 502),
])
async def test_upstream_errors_keep_status_and_message(client, fake, reply, exc, status):
    fake.queue(MODEL, reply)
    with pytest.raises(exc) as info:
        await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES)
    assert info.value.status_code == status
    assert reply.error_message in info.value.message


async def test_rate_limit_carries_retry_after_from_retry_info(base, fake, http):
    fake.queue(MODEL, Reply(status=429, error_status="RESOURCE_EXHAUSTED", error_message="quota", retry_delay="37s"))
    async with http.post(f"{base}/v1/chat/completions", json={"model": f"gemini/{MODEL}", "messages": MESSAGES}) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "37"
        body = await resp.json()
    assert body["error"]["type"] == "rate_limit_error" and body["error"]["message"] == "quota"


async def test_a_wrong_key_is_an_authentication_error_naming_the_key_not_its_value(gateway, fake):
    base = await gateway(gemini_config(fake, TEST_SECRETS[1]))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES)
    assert "key0" in info.value.message and TEST_SECRETS[1] not in str(info.value.body)


async def test_a_refused_key_falls_over_to_the_next(gateway, fake):
    base = await gateway(gemini_config(fake, TEST_SECRETS[1], TEST_SECRETS[0]))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
        for _ in range(3):
            answer = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES)
            assert answer.choices[0].message.content == POEM


async def test_stream_cut_before_finish_ends_with_an_error_event_and_no_done(base, fake, http):
    fake.queue(MODEL, Reply(events=CUT_STREAM))
    body = {"model": f"gemini/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert b"[DONE]" not in raw
    error = orjson.loads(events[-1][6:])["error"]
    assert error["code"] == "stream_incomplete"


async def test_stream_cut_raises_in_the_sdk(client, fake):
    fake.queue(MODEL, Reply(reset_after=2))
    stream = await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_garbage_before_the_first_event_is_a_502(base, fake, http):
    fake.queue(MODEL, Reply(garbage_after=0))
    body = {"model": f"gemini/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"]["code"] == "malformed_upstream_event"


async def test_blocked_prompt_is_a_content_filter_400(client, fake):
    fake.queue(MODEL, Reply(body={"promptFeedback": {"blockReason": "SAFETY"}}))
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES)
    assert info.value.code == "content_filter"


async def test_unsupported_parameter_is_refused_before_any_upstream_call(client, fake):
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=f"gemini/{MODEL}", messages=MESSAGES, logprobs=True)
    assert info.value.param == "logprobs" and not fake.calls


async def test_embeddings_float_and_base64(client, fake):
    texts = ["hello", "a longer sentence"]
    floats = await client.embeddings.create(model="gemini/text-embedding-004", input=texts, encoding_format="float")
    assert [d.embedding for d in floats.data] == [vector(t) for t in texts]
    assert floats.model == "text-embedding-004"
    # the SDK asks for base64 by default and decodes it itself
    decoded = await client.embeddings.create(model="gemini/text-embedding-004", input=texts)
    assert [d.embedding for d in decoded.data] == [vector(t) for t in texts]
    assert fake.calls[-1].body["requests"][1] == {"model": "models/text-embedding-004",
                                                   "content": {"parts": [{"text": "a longer sentence"}]}}


async def test_embeddings_base64_wire_format(base, http):
    body = {"model": "gemini/text-embedding-004", "input": "hey", "encoding_format": "base64"}
    async with http.post(f"{base}/v1/embeddings", json=body) as resp:
        answer = await resp.json()
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == tuple(vector("hey"))


async def test_no_secret_in_any_answer(base, fake, http):
    fake.queue(MODEL, Reply(status=400, error_status="INVALID_ARGUMENT"))
    for body in ({"model": f"gemini/{MODEL}", "messages": MESSAGES},
                 {"model": f"gemini/{MODEL}", "messages": MESSAGES, "stream": True}):
        async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
            raw = await resp.read()
            assert TEST_SECRETS[0].encode() not in raw
            assert all(TEST_SECRETS[0] not in v for v in resp.headers.values())
