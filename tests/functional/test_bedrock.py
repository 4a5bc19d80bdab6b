"""The bedrock wire type over real sockets: the openai SDK -> the gateway -> a fake Bedrock runtime that checks
every SigV4 signature and answers Converse JSON and ConverseStream binary event streams."""
from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.bedrock import FakeBedrock

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TOOLS_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0-tools"
ACCESS_KEY = "AKIDFAKEBEDROCK"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello in French"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
RECORDED_TEXT = "Bonjour à vous — ça va? 🙂"


def bedrock_config(base_url: str, **key_config: Any) -> dict[str, Any]:
    settings = {"access_key": ACCESS_KEY, "secret_key": TEST_SECRETS[0], "region": "us-west-2", **key_config}
    return {"providers": {"bedrock": {
        "keys": [{"name": "aws", "bedrock_key_config": settings}],
        "network_config": {"base_url": base_url},
    }}}


@pytest.fixture
async def fake(serve_app) -> FakeBedrock:
    fake = FakeBedrock(access_key=ACCESS_KEY, secret_key=TEST_SECRETS[0])
    fake.base_url = await serve_app(fake.app())
    return fake


@pytest.fixture
async def base(gateway, fake) -> str:
    return await gateway(bedrock_config(fake.base_url))


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as c:
        yield c


def sse_data(raw: bytes) -> list[bytes]:
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events), raw
    return [e[6:] for e in events]


async def test_plain_text(client, fake):
    result = await client.chat.completions.create(model=f"bedrock/{MODEL}", messages=MESSAGES, max_tokens=200,
                                                  temperature=0.3, stop=["END"], seed=7)
    assert result.model == MODEL and result.object == "chat.completion"
    assert result.id == "chatcmpl-6b1c0f3e-fake-4d8a-9e2b-converse"
    assert result.choices[0].message.content == RECORDED_TEXT
    assert result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (12, 9, 21)
    assert fake.rejected == []
    (seen,) = fake.requests
    # the ':' of the model id travels raw, as signed (the fake recomputed the signature from this path)
    assert seen["path"] == f"/model/{MODEL}/converse"
    assert seen["headers"]["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/") and "/us-west-2/bedrock/aws4_request" in \
        seen["headers"]["Authorization"]
    assert seen["body"] == {"system": [{"text": "Be brief."}],
                            "messages": [{"role": "user", "content": [{"text": "Say hello in French"}]}],
                            "inferenceConfig": {"maxTokens": 200, "temperature": 0.3, "stopSequences": ["END"]}}


async def test_stream_text_with_usage(client, fake):
    stream = await client.chat.completions.create(model=f"bedrock/{MODEL}", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == RECORDED_TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 21
    assert {(c.id, c.model, c.created) for c in chunks} == {
        ("chatcmpl-6b1c0f3e-fake-4d8a-9e2b-stream", MODEL, chunks[0].created)}
    (seen,) = fake.requests
    assert seen["path"] == f"/model/{MODEL}/converse-stream"
    assert seen["headers"]["Accept"] == "application/vnd.amazon.eventstream"


async def test_stream_wire_format(base, http):
    body = {"model": f"bedrock/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
        raw = await resp.read()
    data = sse_data(raw)
    assert data[-1] == b"[DONE]" and data.count(b"[DONE]") == 1
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


async def test_tools_non_stream(client, fake):
    result = await client.chat.completions.create(model=f"bedrock/{TOOLS_MODEL}", messages=MESSAGES,
                                                  tools=[WEATHER], tool_choice="required")
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    (tool_call,) = choice.message.tool_calls
    assert tool_call.id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and tool_call.function.name == "get_weather"
    assert orjson.loads(tool_call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert result.usage.prompt_tokens == 488 and result.usage.prompt_tokens_details.cached_tokens == 100
    assert fake.requests[0]["body"]["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather",
                                "inputSchema": {"json": WEATHER["function"]["parameters"]}}}],
        "toolChoice": {"any": {}}}


async def test_tools_stream_and_tool_result_round_trip(client, fake):
    stream = await client.chat.completions.create(model=f"bedrock/{TOOLS_MODEL}", messages=MESSAGES,
                                                  tools=[WEATHER], stream=True)
    chunks = [chunk async for chunk in stream]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert orjson.loads(arguments) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    history = MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": calls[0].id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18C and sunny"}]
    await client.chat.completions.create(model=f"bedrock/{MODEL}", messages=history, tools=[WEATHER])
    assert fake.requests[1]["body"]["messages"][1:] == [
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                                                       "name": "get_weather",
                                                       "input": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                                                     "content": [{"text": "18C and sunny"}]}}]}]


@pytest.mark.parametrize("upstream,status,etype,code", [
    (400, 400, "invalid_request_error", "ValidationException"),
    (401, 401, "authentication_error", "UnrecognizedClientException"),
    (403, 403, "permission_error", "AccessDeniedException"),
    (429, 429, "rate_limit_error", "ThrottlingException"),
    (500, 500, "api_error", "InternalServerException"),
    (503, 503, "api_error", "ServiceUnavailableException"),
])
async def test_error_statuses(base, http, upstream, status, etype, code):
    body = {"model": f"bedrock/fail-{upstream}", "messages": MESSAGES}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == status
        raw = await resp.read()
        retry_after = resp.headers.get("Retry-After")
    err = orjson.loads(raw)["error"]
    assert (err["type"], err["code"]) == (etype, code)
    assert TEST_SECRETS[0].encode() not in raw and ACCESS_KEY.encode() not in raw
    assert retry_after == ("7" if upstream == 429 else None)


async def test_sdk_sees_typed_errors(client):
    with pytest.raises(openai.BadRequestError, match="extraneous key"):
        await client.chat.completions.create(model="bedrock/fail-400", messages=MESSAGES, stream=True)
    # last: a 429 cools the only key down for its Retry-After
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="bedrock/fail-429", messages=MESSAGES)


async def test_a_wrong_secret_fails_the_signature_check(gateway, fake, http):
    base = await gateway(bedrock_config(fake.base_url, secret_key="not-the-secret"))
    async with http.post(f"{base}/v1/chat/completions", json={"model": f"bedrock/{MODEL}", "messages": MESSAGES}) \
            as resp:
        assert resp.status == 401
        err = (await resp.json())["error"]
    assert err["code"] == "InvalidSignatureException" and "aws" in err["message"]
    assert fake.rejected == ["The request signature we calculated does not match the signature you provided."]
    assert fake.requests == []


async def test_session_token_is_sent_and_signed(gateway, serve_app):
    fake = FakeBedrock(access_key=ACCESS_KEY, secret_key=TEST_SECRETS[0], session_token="FwoGZXIvYXdzEBYaDH//tok==")
    base = await gateway(bedrock_config(await serve_app(fake.app()), session_token="FwoGZXIvYXdzEBYaDH//tok=="))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
        result = await client.chat.completions.create(model=f"bedrock/{MODEL}", messages=MESSAGES)
    assert result.choices[0].message.content == RECORDED_TEXT and fake.rejected == []


async def test_bedrock_api_key_as_bearer(gateway, serve_app):
    fake = FakeBedrock(api_key=TEST_SECRETS[1])
    config = {"providers": {"bedrock": {"keys": [{"name": "apikey", "value": TEST_SECRETS[1]}],
                                        "network_config": {"base_url": await serve_app(fake.app())}}}}
    base = await gateway(config)
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
        result = await client.chat.completions.create(model=f"bedrock/{MODEL}", messages=MESSAGES)
    assert result.choices[0].message.content == RECORDED_TEXT and fake.rejected == []


async def stream_raw(base, http, model: str) -> tuple[int, list[bytes]]:
    body = {"model": f"bedrock/{model}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        return resp.status, sse_data(await resp.read())


@pytest.mark.parametrize("model,etype,code", [
    ("stream-exception-throttlingException", "rate_limit_error", "throttlingException"),
    ("stream-exception-modelStreamErrorException", "upstream_error", "modelStreamErrorException"),
    ("stream-exception-validationException", "invalid_request_error", "validationException"),
    ("bad-crc", "upstream_error", "malformed_upstream_event"),
    ("truncated", "upstream_error", "stream_incomplete"),
])
async def test_broken_streams_end_with_one_error_event_and_no_done(base, http, model, etype, code):
    status, data = await stream_raw(base, http, model)
    assert status == 200
    assert b"[DONE]" not in data
    *chunks, last = [orjson.loads(d) for d in data]
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert set(last) == {"error"} and (last["error"]["type"], last["error"]["code"]) == (etype, code)


async def test_sdk_stream_raises_on_the_mid_stream_exception(client):
    stream = await client.chat.completions.create(model="bedrock/stream-exception-throttlingException",
                                                  messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="throttlingException"):
        async for chunk in stream:
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received) == "Bonjour à vous"


async def test_exception_before_any_event_is_a_status(base, http):
    body = {"model": "bedrock/first-exception-serviceUnavailableException", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 503
        err = (await resp.json())["error"]
    assert err["code"] == "serviceUnavailableException"


async def test_stream_without_metadata_still_ends_complete(base, http):
    status, data = await stream_raw(base, http, "no-metadata")
    assert status == 200 and data[-1] == b"[DONE]"
    assert [orjson.loads(d)["choices"][0]["finish_reason"] for d in data[:-1]][-1] == "stop"


async def test_refused_parameters_never_reach_the_upstream(base, fake, http):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {"model": f"bedrock/{MODEL}", "messages": [{"role": "user", "content": [image]}]}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 400
        err = (await resp.json())["error"]
    assert err["param"] == "messages[0].content[0].image_url.url" and err["type"] == "invalid_request_error"
    async with http.post(f"{base}/v1/chat/completions", json={"model": f"bedrock/{MODEL}", "messages": MESSAGES,
                                                              "n": 2}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "n"
    assert fake.requests == []


async def test_titan_embeddings_float_and_base64(client, fake):
    model = "amazon.titan-embed-text-v2:0"
    floats = await client.embeddings.create(model=f"bedrock/{model}", input="hello", encoding_format="float")
    assert floats.data[0].embedding == [0.0123, -0.0456, 0.0789, -0.0012] and floats.usage.prompt_tokens == 5
    assert floats.model == model
    decoded = await client.embeddings.create(model=f"bedrock/{model}", input="hello")  # the SDK asks for base64
    assert decoded.data[0].embedding == pytest.approx([0.0123, -0.0456, 0.0789, -0.0012], rel=1e-6)
    assert [r["path"] for r in fake.requests] == [f"/model/{model}/invoke"] * 2
    assert fake.requests[0]["body"] == {"inputText": "hello"}
    with pytest.raises(openai.BadRequestError, match="one text per request"):
        await client.embeddings.create(model=f"bedrock/{model}", input=["a", "b"])


async def test_cohere_embeddings(client, fake):
    result = await client.embeddings.create(model="bedrock/cohere.embed-english-v3", input=["hello world", "bonjour"],
                                            encoding_format="float")
    assert [d.index for d in result.data] == [0, 1] and result.data[1].embedding == [-0.005, 0.011, 0.027]
    assert result.usage.prompt_tokens == 4
    assert fake.requests[0]["body"] == {"texts": ["hello world", "bonjour"], "input_type": "search_document"}
