"""The same chat scenarios against every wire type (issue 7): the openai SDK -> the gateway -> each fake upstream,
over real sockets. Per-provider setup (fakes, steering, configs) is one table: tests/fakes/conformance.py."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator

import openai
import orjson
import pytest

from tests.fakes.conformance import KEY_NAME, WIRES, RecordingTransport, Started, Wire
from tests.fakes.secrets_check import ResponseScanner, watch_gateway_responses

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def _tool(name: str, arg: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": f"{name} tool", "parameters": {
        "type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]}}}


# the union of the tools the recordings call, so every recorded call names an offered tool
TOOLS = [_tool("get_weather", "location"), _tool("get_time", "timezone"),
         _tool("query_daily_sales_report", "day"), _tool("query_product_catalog", "category")]
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}


@dataclass
class Target:
    wire: Wire
    started: Started
    base: str
    client: openai.AsyncOpenAI
    transport: RecordingTransport

    def model(self, role: str) -> str:
        return f"{self.wire.name}/{getattr(self.wire.models, role)}"


@pytest.fixture(params=WIRES, ids=[w.name for w in WIRES])
def wire(request) -> Wire:
    return request.param


@pytest.fixture
def scanner(monkeypatch, wire) -> ResponseScanner:
    """Every byte the gateway sends in a scenario is scanned for the provider's secrets."""
    return watch_gateway_responses(monkeypatch, wire.secrets)


@pytest.fixture
async def target(wire, scanner, serve_app, gateway) -> AsyncIterator[Target]:
    started = await wire.start(serve_app)
    base = await gateway(started.config)
    transport = RecordingTransport()
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0,
                                http_client=openai.DefaultAsyncHttpxClient(transport=transport))
    async with client:
        yield Target(wire, started, base, client, transport)
    assert scanner.responses, "the secrets scan saw no gateway response"
    scanner.assert_clean()


async def _plain_text(t: Target) -> Any:
    return await t.client.chat.completions.create(model=t.model("ok"), messages=MESSAGES)


async def test_plain_text(target):
    answer = await _plain_text(target)
    choice = answer.choices[0]
    assert answer.object == "chat.completion" and not answer.model.startswith(f"{target.wire.name}/")
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "stop"
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_text(target):
    stream = await target.client.chat.completions.create(model=target.model("ok"), messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]
    assert chunks and all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert {c.model for c in chunks} == {target.wire.stream_model}
    assert all(c.choices and c.usage is None for c in chunks), "usage was sent though not asked for"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    (raw,) = target.transport.bodies
    assert raw.endswith(b"data: [DONE]\n\n") and raw.count(b"data: [DONE]") == 1
    if target.wire.same_text:
        assert text == (await _plain_text(target)).choices[0].message.content
    else:
        assert text.strip()


async def test_stream_include_usage(target):
    stream = await target.client.chat.completions.create(model=target.model("ok"), messages=MESSAGES, stream=True,
                                                         stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens > 0
    assert all(c.choices and c.usage is None for c in chunks[:-1])
    assert len({(c.id, c.created, c.model) for c in chunks}) == 1


def _check_calls(calls: list[tuple[str | None, str | None, str]]) -> None:
    assert calls
    for call_id, name, arguments in calls:
        assert call_id and name in TOOL_NAMES
        assert isinstance(orjson.loads(arguments), dict)
    assert len({c[0] for c in calls}) == len(calls), "tool call ids are not unique"


async def test_tools(target):
    answer = await target.client.chat.completions.create(model=target.model("tools"), messages=MESSAGES,
                                                         tools=TOOLS)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    _check_calls([(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []])


async def test_tools_stream(target):
    stream = await target.client.chat.completions.create(model=target.model("tools"), messages=MESSAGES,
                                                         tools=TOOLS, stream=True)
    calls: dict[int, list[Any]] = {}
    finish = None
    async for chunk in stream:
        for part in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(part.index, [None, "", ""])
            entry[0] = entry[0] or part.id
            entry[1] += (part.function.name or "") if part.function else ""
            entry[2] += (part.function.arguments or "") if part.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert sorted(calls) == list(range(len(calls)))  # indexes 0..n-1
    _check_calls([tuple(calls[i]) for i in sorted(calls)])


async def test_rate_limit(target):
    with pytest.raises(openai.RateLimitError) as info:
        await target.client.chat.completions.create(model=target.model("rate_limited"), messages=MESSAGES)
    assert info.value.status_code == 429
    assert isinstance(info.value.body, dict) and info.value.body.get("message")


async def test_refused_key(target):
    with pytest.raises(openai.AuthenticationError) as info:
        await target.client.chat.completions.create(model=target.model("refused"), messages=MESSAGES)
    assert info.value.status_code == 401
    assert KEY_NAME in info.value.message
    text = info.value.response.text
    assert all(secret not in text for secret in target.wire.secrets)


async def _read_event(content: Any) -> bytes:
    buffer = b""
    while b"\n\n" not in buffer:
        chunk = await content.readany()
        assert chunk, f"the stream ended before its first event: {buffer!r}"
        buffer += chunk
    return buffer


async def test_mid_stream_error(target, http):
    body = {"model": target.model("broken"), "messages": MESSAGES, "stream": True}
    async with http.post(f"{target.base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(_read_event(resp.content), 5)
        target.started.release()
        raw = first + await asyncio.wait_for(resp.read(), 5)
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events), raw
    payloads = [orjson.loads(e[len(b"data: "):]) for e in events if e != b"data: [DONE]"]
    assert b"data: [DONE]" not in events
    errors = [p for p in payloads if "error" in p]
    assert len(errors) == 1 and payloads[-1] is errors[0] and set(errors[0]) == {"error"}
    assert errors[0]["error"]["message"] and errors[0]["error"]["type"]
    assert len(payloads) >= 2 and payloads[0]["object"] == "chat.completion.chunk"  # the error came mid-stream
