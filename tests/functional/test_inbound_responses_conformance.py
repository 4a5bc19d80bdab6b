"""The Responses API translated to every wire type (issue 13): the openai SDK's ``responses`` client -> the
gateway -> each fake upstream of the conformance table (tests/fakes/conformance.py), over real sockets.

The ``openai`` wire type is set to ``responses_api: translate`` here, so it too goes through chat completions;
its passthrough is proved in test_inbound_responses_passthrough.py."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator

import openai
import orjson
import pytest

from tests.fakes.conformance import WIRES, Started, Wire
from tests.fakes.secrets_check import ResponseScanner, watch_gateway_responses

INSTRUCTIONS = "Be brief."
INPUT = "Hello there"


def _tool(name: str, arg: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": f"{name} tool", "parameters": {
        "type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]}}


# the union of the tools the recordings call, so every recorded call names an offered tool
TOOLS = [_tool("get_weather", "location"), _tool("get_time", "timezone"),
         _tool("query_daily_sales_report", "day"), _tool("query_product_catalog", "category")]
TOOL_NAMES = {t["name"] for t in TOOLS}


@dataclass
class Target:
    wire: Wire
    started: Started
    base: str
    client: openai.AsyncOpenAI

    def model(self, role: str) -> str:
        return f"{self.wire.name}/{getattr(self.wire.models, role)}"


@pytest.fixture(params=WIRES, ids=[w.name for w in WIRES])
def wire(request) -> Wire:
    return request.param


@pytest.fixture
def scanner(monkeypatch, wire) -> ResponseScanner:
    return watch_gateway_responses(monkeypatch, wire.secrets)


@pytest.fixture
async def target(wire, scanner, serve_app, gateway) -> AsyncIterator[Target]:
    started = await wire.start(serve_app)
    started.config["providers"][wire.name]["options"] = {"responses_api": "translate"}
    base = await gateway(started.config)
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as client:
        yield Target(wire, started, base, client)
    assert scanner.responses, "the secrets scan saw no gateway response"
    scanner.assert_clean()


async def test_plain_text(target):
    answer = await target.client.responses.create(model=target.model("ok"), instructions=INSTRUCTIONS, input=INPUT)
    assert answer.object == "response" and answer.status == "completed" and answer.output_text
    assert not answer.model.startswith(f"{target.wire.name}/")
    usage = answer.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


async def test_stream_text(target):
    types, numbers = [], []
    async with target.client.responses.stream(model=target.model("ok"), instructions=INSTRUCTIONS,
                                              input=INPUT) as stream:
        async for event in stream:
            types.append(event.type)
            numbers.append(event.sequence_number)
        final = await stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert numbers == list(range(len(numbers)))
    assert final.model == target.wire.stream_model and final.usage.total_tokens > 0
    if target.wire.same_text:
        plain = await target.client.responses.create(model=target.model("ok"), input=INPUT)
        assert final.output_text == plain.output_text
    else:
        assert final.output_text.strip()


def _check_calls(output: list[Any]) -> None:
    calls = [item for item in output if item.type == "function_call"]
    assert calls
    for call in calls:
        assert call.call_id and call.name in TOOL_NAMES and call.status == "completed"
        assert isinstance(orjson.loads(call.arguments), dict)
    assert len({c.call_id for c in calls}) == len(calls), "call ids are not unique"
    assert len({c.id for c in calls}) == len(calls), "item ids are not unique"


async def test_tools(target):
    answer = await target.client.responses.create(model=target.model("tools"), input=INPUT, tools=TOOLS)
    _check_calls(answer.output)


async def test_tools_stream(target):
    async with target.client.responses.stream(model=target.model("tools"), input=INPUT, tools=TOOLS) as stream:
        deltas = [event async for event in stream if event.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    _check_calls(final.output)
    by_item = {item.id: item.arguments for item in final.output if item.type == "function_call"}
    for item_id, arguments in by_item.items():
        assert "".join(d.delta for d in deltas if d.item_id == item_id) == arguments


async def test_rate_limit(target):
    with pytest.raises(openai.RateLimitError) as info:
        await target.client.responses.create(model=target.model("rate_limited"), input=INPUT)
    assert info.value.status_code == 429 and info.value.body.get("message")


async def _read_event(content: Any) -> bytes:
    buffer = b""
    while b"\n\n" not in buffer:
        chunk = await content.readany()
        assert chunk, f"the stream ended before its first event: {buffer!r}"
        buffer += chunk
    return buffer


async def test_mid_stream_error_is_one_response_failed(target, http):
    body = {"model": target.model("broken"), "input": INPUT, "stream": True}
    async with http.post(f"{target.base}/v1/responses", json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(_read_event(resp.content), 5)
        target.started.release()
        raw = first + await asyncio.wait_for(resp.read(), 5)
    events = [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in raw.split(b"\n\n") if block]
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.failed"
    assert types.count("response.failed") == 1 and "response.completed" not in types
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    failed = events[-1]["response"]
    assert failed["id"] == events[0]["response"]["id"] and failed["error"]["message"]
