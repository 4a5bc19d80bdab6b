"""The cohere wire type over real sockets: the openai SDK -> the gateway -> a fake Cohere v2 API."""
from __future__ import annotations

import base64
import dataclasses
import struct
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.cohere import EMBED_ANSWER, STREAM, FakeCohere, Reply

MODEL = "command-a-03-2025"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about LLMs"}]
TOOLS = [{"type": "function", "function": {
    "name": "query_daily_sales_report", "description": "Sales for a day",
    "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}}}]
RECORDED_TEXT = ("LLMs stand for Large Language Models, which are a type of neural network model specialized in "
                 "processing and generating human language.")


def cohere_config(base_url: str, **network: Any) -> dict[str, Any]:
    return {"providers": {"cohere": {
        "keys": [{"name": "primary", "value": TEST_SECRETS[0]}],
        "network_config": {"base_url": base_url, **network},
    }}}


@pytest.fixture
async def fake(serve_app) -> FakeCohere:
    fake = FakeCohere()
    fake.base_url = await serve_app(fake.app)
    return fake


@pytest.fixture
async def base(gateway, fake) -> str:
    return await gateway(cohere_config(fake.base_url))


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as c:
        yield c


async def test_plain_text(client, fake):
    result = await client.chat.completions.create(model=f"cohere/{MODEL}", messages=MESSAGES, temperature=0.2,
                                                  top_p=0.5, stop=["END"], max_tokens=300)
    assert result.model == MODEL
    assert result.id == "chatcmpl-c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert result.choices[0].message.content.startswith("LLMs stand for Large Language Models")
    assert result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (5, 418, 423)
    seen = fake.calls[0]
    assert seen.path == "/v2/chat" and seen.key == TEST_SECRETS[0]
    assert seen.body == {"model": MODEL, "messages": MESSAGES, "temperature": 0.2, "p": 0.5,
                         "stop_sequences": ["END"], "max_tokens": 300}


async def test_stream_with_usage(client, fake):
    stream = await client.chat.completions.create(model=f"cohere/{MODEL}", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    text, ids, models, finish, usage = "", set(), set(), None, None
    async for chunk in stream:
        ids.add(chunk.id)
        models.add(chunk.model)
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == RECORDED_TEXT and finish == "stop"
    assert ids == {"chatcmpl-29f14a5a-11de-4cae-9800-25e4747408ea"} and models == {MODEL}
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (5, 26)
    assert fake.calls[0].body["stream"] is True and "stream_options" not in fake.calls[0].body


async def test_stream_wire_format(base, http):
    body = {"model": f"cohere/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        raw = await resp.read()
    events = raw.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    objs = [orjson.loads(e[6:]) for e in events[:-2]]
    assert all(e.startswith(b"data: {") for e in events[:-2])
    assert "".join(o["choices"][0]["delta"].get("content") or "" for o in objs) == RECORDED_TEXT
    assert all("usage" not in o for o in objs)  # the client did not ask for it


async def test_tools_non_stream(client, fake):
    result = await client.chat.completions.create(model=f"cohere/{MODEL}", messages=MESSAGES, tools=TOOLS,
                                                  tool_choice="required")
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("query_daily_sales_report_hgxxmkby3wta", "query_daily_sales_report", '{"day": "2023-09-29"}'),
        ("query_product_catalog_rpg0z5h8yyz2", "query_product_catalog", '{"category": "Electronics"}'),
    ]
    assert fake.calls[0].body["tools"] == TOOLS and fake.calls[0].body["tool_choice"] == "REQUIRED"


async def test_tools_stream_and_tool_result_round_trip(client, fake):
    stream = await client.chat.completions.create(model=f"cohere/{MODEL}", messages=MESSAGES, tools=TOOLS,
                                                  stream=True)
    calls: dict[int, dict[str, str]] = {}
    plan, finish = "", None
    async for chunk in stream:
        delta = chunk.choices[0].delta
        plan += delta.content or ""
        for frag in delta.tool_calls or []:
            entry = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += frag.id or ""
            entry["name"] += frag.function.name or ""
            entry["arguments"] += frag.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and plan.startswith("I will use the query_daily_sales_report tool")
    assert calls[0] == {"id": "query_daily_sales_report_j3f0adww9pmr", "name": "query_daily_sales_report",
                        "arguments": '{"day": "2023-09-29"}'}
    assert calls[1]["name"] == "query_product_catalog" and calls[1]["arguments"] == '{"category": "Electronics"}'
    # send the answers back: Cohere gets its tool plan, the calls and the results in its own shape
    tool_calls = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                  for c in calls.values()]
    history = [*MESSAGES, {"role": "assistant", "content": plan, "tool_calls": tool_calls},
               {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"total": 10000}'}]
    result = await client.chat.completions.create(model=f"cohere/{MODEL}", messages=history)
    assert result.choices[0].message.content
    sent = fake.calls[1].body["messages"]
    assert sent[2] == {"role": "assistant", "tool_plan": plan, "tool_calls": tool_calls}
    assert sent[3] == {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"total": 10000}'}


async def test_error_statuses_keep_status_and_message(client, fake):
    fake.queue("bad", Reply(status=400, error_message="invalid request: p must be below 0.99"))
    fake.queue("busy", Reply(status=429, error_message="trial key rate limit", headers={"Retry-After": "9"}))
    with pytest.raises(openai.BadRequestError, match="p must be below 0.99") as bad:
        await client.chat.completions.create(model="cohere/bad", messages=MESSAGES)
    assert bad.value.status_code == 400
    with pytest.raises(openai.RateLimitError, match="trial key rate limit") as busy:
        await client.chat.completions.create(model="cohere/busy", messages=MESSAGES)
    assert busy.value.response.headers["Retry-After"] == "9"


async def test_refused_key_is_named_never_shown(client, fake):
    fake.queue(MODEL, Reply(status=401, error_message="invalid api token"))
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model=f"cohere/{MODEL}", messages=MESSAGES)
    text = info.value.response.text
    assert "invalid api token" in text and "primary" in text
    assert all(secret not in text for secret in TEST_SECRETS)


async def test_server_errors_are_retried(gateway, fake, http):
    base = await gateway(cohere_config(fake.base_url, max_retries=1, retry_backoff_initial=1, retry_backoff_max=1))
    fake.queue(MODEL, Reply(status=503, error_message="overloaded"), Reply())
    body = {"model": f"cohere/{MODEL}", "messages": MESSAGES}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["x-bifrost-attempts"] == "2"
    fake.queue("down", Reply(status=500, error_message="internal error"))
    async with http.post(f"{base}/v1/chat/completions", json={**body, "model": "cohere/down"}) as resp:
        assert resp.status == 500
        assert (await resp.json())["error"]["message"] == "internal error"
    assert len([c for c in fake.calls if c.body["model"] == "down"]) == 2


@pytest.mark.parametrize("reply", [
    Reply(stop_after=len(STREAM) - 1),  # ends cleanly, but without message-end
    Reply(events=[*STREAM[:3], b'event: message-end\ndata: {"type":"message-end","delta":'
                               b'{"finish_reason":"ERROR","error":"model crashed"}}\n\n']),
    Reply(garbage_after=3),
    Reply(reset_after=3),
])
async def test_broken_streams_end_with_one_error_event_and_no_done(base, fake, http, reply):
    fake.queue(MODEL, dataclasses.replace(reply, gate_after=1))
    body = {"model": f"cohere/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200  # committed on the first event; the failure comes after the gate
        fake.gate.set()
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert b"data: [DONE]" not in events
    last = orjson.loads(events[-1][6:])
    assert set(last) == {"error"} and last["error"]["message"]
    assert all("error" not in orjson.loads(e[6:]) for e in events[:-1])


async def test_stream_failing_before_its_first_event_is_a_status(base, fake, http):
    fake.queue(MODEL, Reply(events=[]))
    body = {"model": f"cohere/{MODEL}", "messages": MESSAGES, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"]["code"] == "stream_incomplete"


async def test_embeddings_float_and_base64(client, fake):
    recorded = EMBED_ANSWER["embeddings"]["float"]
    # the SDK asks for base64 by default and decodes it back to floats
    result = await client.embeddings.create(model="cohere/embed-v4.0", input=["hello", "goodbye", "again"])
    assert [d.index for d in result.data] == [0, 1, 2]
    for item, vector in zip(result.data, [recorded[0], recorded[1], recorded[0]], strict=True):
        assert item.embedding == pytest.approx(vector, rel=1e-6)
    assert result.model == "embed-v4.0" and result.usage.prompt_tokens == 2
    assert fake.calls[0].path == "/v2/embed"
    assert fake.calls[0].body == {"model": "embed-v4.0", "texts": ["hello", "goodbye", "again"],
                                  "input_type": "search_document", "embedding_types": ["float"]}
    floats = await client.embeddings.create(model="cohere/embed-v4.0", input="hello", encoding_format="float")
    assert floats.data[0].embedding == recorded[0]


async def test_embeddings_base64_bytes_on_the_wire(base, http):
    body = {"model": "cohere/embed-v4.0", "input": "hello", "encoding_format": "base64"}
    async with http.post(f"{base}/v1/embeddings", json=body) as resp:
        assert resp.status == 200
        out = await resp.json()
    vector = EMBED_ANSWER["embeddings"]["float"][0]
    assert base64.b64decode(out["data"][0]["embedding"]) == struct.pack(f"<{len(vector)}f", *vector)


async def test_unsupported_endpoint_and_parameters(base, http):
    async with http.post(f"{base}/v1/completions", json={"model": f"cohere/{MODEL}", "prompt": "x"}) as resp:
        assert resp.status == 404
    async with http.post(f"{base}/v1/chat/completions",
                         json={"model": f"cohere/{MODEL}", "messages": MESSAGES, "n": 3}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == "n"
