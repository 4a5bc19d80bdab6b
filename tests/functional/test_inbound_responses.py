"""POST /v1/responses translated for chat-only providers: the official openai SDK against the gateway,
over real sockets, with the OpenAI-compatible, Anthropic and Gemini fakes behind it."""
from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import openai
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import DRAIN
from bifrost_proxy.config.load import parse_config
from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import FakeAnthropic, Reply as AnthropicReply
from tests.fakes.gemini import FakeGoogle
from tests.fakes.openai import COMPLETION, TOOLS_STREAM, Reply
from tests.fakes.openai_responses import TEXT_EVENTS, TOOLS_EVENTS, FakeOpenAIResponses

CHAT_ONLY = "chatonly/gpt-4o-mini"  # an OpenAI-compatible service with chat completions only (vLLM, Ollama ...)
ANTHROPIC = "anthropic/claude-3-5-haiku-latest"
GEMINI = "gemini/gemini-2.5-flash"
POEM = ("Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴),\n"
        "nap in the sun 🐈☀️ and dream of mice.")
# what each fake answers: (non-stream text, streamed text)
ANSWERS = {CHAT_ONLY: ("Once upon a time, in Zürich 🐉.", "Once upon a time, in Zürich 🐉."),
           ANTHROPIC: ("Hi! My name is Claude.", "Hello!"),
           GEMINI: (POEM, POEM)}
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}


class Fakes:
    def __init__(self) -> None:
        self.openai = FakeOpenAIResponses()
        self.anthropic = FakeAnthropic(valid_keys={TEST_SECRETS[0]})
        self.google = FakeGoogle(api_keys=(TEST_SECRETS[0],))


@pytest.fixture
async def fakes(serve_app) -> Fakes:
    fakes = Fakes()
    for fake in (fakes.openai, fakes.anthropic, fakes.google):
        fake.base_url = await serve_app(fake.app)
    return fakes


def config(fakes: Fakes, **top: Any) -> dict[str, Any]:
    def provider(base_url: str, secret: str = TEST_SECRETS[0], **extra: Any) -> dict[str, Any]:
        return {"keys": [{"name": "primary", "value": secret}], "network_config": {"base_url": base_url}, **extra}

    return {"providers": {
        "openai": provider(fakes.openai.base_url),
        "chatonly": provider(fakes.openai.base_url, TEST_SECRETS[1], type="openai"),
        "anthropic": provider(fakes.anthropic.base_url),
        "gemini": provider(fakes.google.base_url),
    }, **top}


@pytest.fixture
async def base(gateway, fakes) -> str:
    return await gateway(config(fakes))


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-client-virtual-key", max_retries=0) as c:
        yield c


def sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event; the name must match the data's type, as OpenAI sends them."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), block
        payload = orjson.loads(data[6:])
        assert payload["type"] == name[7:]
        events.append((name[7:], payload))
    return events


def collapsed(types: list[str]) -> list[str]:
    """Event types with runs of one delta type made one: the shape of a stream, whatever its chunking."""
    return [t for i, t in enumerate(types) if not (t.endswith(".delta") and i and types[i - 1] == t)]


def recorded_types(events: list[bytes]) -> list[str]:
    return [e.split(b"\n")[0][7:].decode() for e in events]


@pytest.mark.parametrize("model", [CHAT_ONLY, ANTHROPIC, GEMINI])
async def test_sdk_create_is_translated_for_each_wire_type(client, fakes, model):
    result = await client.responses.create(model=model, instructions="Be brief.", input="Tell me a story")
    assert result.object == "response" and result.status == "completed" and result.id.startswith("resp_")
    assert result.output_text == ANSWERS[model][0]
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.instructions == "Be brief." and result.store is False
    assert "/" not in result.model  # the upstream's own model name, as chat completions answers carry it


async def test_request_reaches_a_chat_upstream_as_chat_messages(client, fakes):
    await client.responses.create(
        model=CHAT_ONLY, instructions="Be brief.", max_output_tokens=50, temperature=0.2,
        input=[{"role": "developer", "content": "Use metric units."},
               {"role": "user", "content": [{"type": "input_text", "text": "Weather?"},
                                            {"type": "input_image", "image_url": "https://example.com/a.png",
                                             "detail": "low"}]}],
        text={"format": {"type": "json_schema", "name": "weather", "schema": {"type": "object"}, "strict": True}},
        reasoning={"effort": "low"}, metadata={"trace": "42"}, include=["reasoning.encrypted_content"])
    (seen,) = fakes.openai.calls
    assert seen.path == "/v1/chat/completions" and seen.key == TEST_SECRETS[1]
    assert seen.body["model"] == "gpt-4o-mini"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/a.png",
                                                                         "detail": "low"}}]}]
    assert seen.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "weather", "schema": {"type": "object"}, "strict": True}}
    assert (seen.body["max_completion_tokens"], seen.body["temperature"], seen.body["reasoning_effort"]) == \
        (50, 0.2, "low")
    assert not {"input", "instructions", "metadata", "include", "text", "reasoning"} & set(seen.body)
    assert "sk-client-virtual-key" not in str(seen.headers)


@pytest.mark.parametrize("model", [CHAT_ONLY, ANTHROPIC, GEMINI])
async def test_sdk_stream_is_translated_for_each_wire_type(client, model):
    types = []
    async with client.responses.stream(model=model, input="Tell me a story") as stream:
        async for event in stream:
            types.append(event.type)
            assert event.sequence_number == len(types) - 1
        final = await stream.get_final_response()
    assert final.output_text == ANSWERS[model][1] and final.status == "completed"
    assert final.usage.total_tokens > 0
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert "response.output_text.delta" in types


async def test_translated_text_stream_has_the_event_types_of_openai_recording(base, http):
    async with http.post(f"{base}/v1/responses", json={"model": CHAT_ONLY, "input": "Hi", "stream": True}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = sse(await resp.read())
    assert collapsed([name for name, _ in events]) == collapsed(recorded_types(TEXT_EVENTS))
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    ids = {data["response"]["id"] for _, data in events if "response" in data}
    assert len(ids) == 1
    completed = events[-1][1]["response"]
    assert completed["output"][0]["content"][0]["text"] == "Once upon a time, in Zürich 🐉."
    assert completed["usage"]["input_tokens"] == 12 and completed["usage"]["output_tokens"] == 9


async def test_translated_tool_stream_has_the_event_types_of_openai_recording(base, fakes, http):
    fakes.openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    body = {"model": CHAT_ONLY, "input": "Weather in Paris?", "tools": [WEATHER], "stream": True}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        events = sse(await resp.read())
    assert collapsed([name for name, _ in events]) == collapsed(recorded_types(TOOLS_EVENTS))
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert done == [{"id": done[0]["id"], "type": "function_call", "status": "completed",
                     "arguments": '{"location":"Paris"}', "call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                     "name": "get_weather"}]
    (seen,) = fakes.openai.calls
    assert seen.body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather", "parameters": WEATHER["parameters"]}}]


async def test_gemini_thoughts_stream_as_a_reasoning_item_before_the_message(client):
    async with client.responses.stream(model=GEMINI, input="A poem about two cats") as stream:
        types = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text.startswith("**Counting the cats**")
    assert types.index("response.reasoning_text.delta") < types.index("response.output_text.delta")


async def test_tool_round_trip_through_anthropic(client, fakes):
    first = await client.responses.create(model=ANTHROPIC, input="Weather in San Francisco?", tools=[WEATHER])
    assert [item.type for item in first.output] == ["message", "function_call"]
    call = first.output[1]
    assert (call.name, call.call_id) == ("get_weather", "toolu_01A09q90qw90lq917835lq9")
    assert orjson.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}

    history = [{"role": "user", "content": "Weather in San Francisco?"}, *[item.model_dump() for item in first.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": "15 degrees, fog"}]
    second = await client.responses.create(model=ANTHROPIC, input=history, tools=[WEATHER])
    assert second.output_text == "I'll check the current weather in San Francisco for you."
    sent = fakes.anthropic.calls[1].body["messages"]
    assert sent[1]["role"] == "assistant"
    assert [block["type"] for block in sent[1]["content"]] == ["text", "tool_use"]
    assert sent[1]["content"][1]["id"] == call.call_id
    assert sent[2]["role"] == "user" and sent[2]["content"][0] == {
        "type": "tool_result", "tool_use_id": call.call_id, "content": "15 degrees, fog"}


async def test_parallel_tool_calls_stream_through_gemini(client):
    async with client.responses.stream(model=GEMINI, input="Weather and time?", tools=[WEATHER]) as stream:
        arguments = [event.delta async for event in stream if event.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["get_weather", "get_time"]
    assert [orjson.loads(call.arguments) for call in calls] == [{"city": "Zürich", "unit": "celsius"},
                                                                  {"timezone": "Europe/Zurich"}]
    assert "".join(arguments) == "".join(call.arguments for call in calls)
    assert len({call.call_id for call in calls}) == 2 and len({call.id for call in calls}) == 2


@pytest.mark.parametrize("extra, param", [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"background": True}, "background"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"tools": [WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[1]"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"include": ["message.output_text.logprobs"]}, "include"),
])
async def test_responses_api_only_fields_are_a_400_naming_them(client, fakes, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(**{"model": ANTHROPIC, "input": "Hi", **extra})
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == param and caught.value.body["code"] == "responses_api_only"
    assert "'anthropic'" in caught.value.body["message"] and "responses_api: native" in caught.value.body["message"]
    assert fakes.anthropic.calls == []


async def test_a_fallback_without_the_responses_api_makes_stateful_fields_a_400(base, fakes, http):
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "previous_response_id": "resp_123",
            "fallbacks": [ANTHROPIC]}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == "previous_response_id" and "'anthropic'" in error["message"]
    assert fakes.openai.calls == []


@pytest.mark.parametrize("raw, param", [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b'{"input": "Hi"}', "model"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": 7}', "input"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": ["Hi"]}', "input[0]"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": "Hi", "tools": [{"name": "x"}]}', "tools[0]"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": "Hi", "stream": "yes"}', "stream"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": [{"role": "robot", "content": "Hi"}]}',
     "input[0].role"),
    (b'{"model": "anthropic/claude-3-5-haiku-latest", "input": "Hi", "text": {"format": {"type": "xml"}}}',
     "text.format.type"),
])
async def test_bad_requests_are_4xx_in_openai_error_shape(base, fakes, http, raw, param):
    async with http.post(f"{base}/v1/responses", data=raw, headers={"Content-Type": "application/json"}) as resp:
        assert 400 <= resp.status < 500
        body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["param"] == param and body["error"]["message"]
    assert fakes.anthropic.calls == [] and fakes.openai.calls == []


async def test_a_bare_name_without_an_openai_provider_is_a_404_naming_the_providers(gateway, fakes, http):
    conf = config(fakes)
    del conf["providers"]["openai"]
    base = await gateway(conf)
    async with http.post(f"{base}/v1/responses", json={"model": "gpt-4o-mini", "input": "Hi"}) as resp:
        assert resp.status == 404
        error = (await resp.json())["error"]
    assert error["param"] == "model" and "'openai'" in error["message"] and "anthropic" in error["message"]


async def test_upstream_error_before_the_stream_keeps_status_and_message(client, fakes):
    fakes.anthropic.queue("claude-3-5-haiku-latest", AnthropicReply(status=429, error_type="rate_limit_error",
                                                                     error_message="slow down"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client.responses.create(model=ANTHROPIC, input="Hi", stream=True)


@pytest.mark.parametrize("model, queue", [
    (ANTHROPIC, lambda f: f.anthropic.queue("claude-3-5-haiku-latest", AnthropicReply(reset_after=4))),
    (CHAT_ONLY, lambda f: f.openai.queue("gpt-4o-mini", Reply(reset_after=3))),
])
async def test_failure_mid_stream_is_one_response_failed_with_the_streams_id(base, fakes, http, model, queue):
    queue(fakes)
    async with http.post(f"{base}/v1/responses", json={"model": model, "input": "Hi", "stream": True}) as resp:
        assert resp.status == 200
        events = sse(await resp.read())
    names = [name for name, _ in events]
    assert names[-1] == "response.failed" and names.count("response.failed") == 1
    assert "response.completed" not in names and "response.output_text.delta" in names
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    failed = events[-1][1]["response"]
    assert failed["id"] == events[0][1]["response"]["id"] and failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error" and failed["error"]["message"]
    assert failed["output"][0]["type"] == "message" and failed["output"][0]["status"] == "incomplete"


async def test_events_reach_the_client_before_the_upstream_sends_the_rest(base, fakes, http):
    fakes.openai.queue("gpt-4o-mini", Reply(gate_after=2))  # the role chunk and "Once", then wait
    async with http.post(f"{base}/v1/responses", json={"model": CHAT_ONLY, "input": "Hi", "stream": True}) as resp:
        seen = b""
        async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
            while b"response.output_text.delta" not in seen:
                seen += await resp.content.readany()
        assert not fakes.openai.gate.is_set() and b"response.completed" not in seen
        fakes.openai.gate.set()
        rest = await resp.read()
    assert b"event: response.completed" in rest


async def test_bare_names_go_to_openai_and_aliases_apply_first(gateway, fakes, http):
    conf = config(fakes, model_aliases={"claude-*": CHAT_ONLY})
    conf["providers"]["openai"]["options"] = {"responses_api": "translate"}
    base = await gateway(conf)
    for model in ("gpt-4o", "claude-sonnet-4-5-20250929"):
        async with http.post(f"{base}/v1/responses", json={"model": model, "input": "Hi"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["output"][0]["content"][0]["text"] == "Once upon a time, in Zürich 🐉."
    assert [(c.path, c.key, c.body["model"]) for c in fakes.openai.calls] == [
        ("/v1/chat/completions", TEST_SECRETS[0], "gpt-4o"), ("/v1/chat/completions", TEST_SECRETS[1], "gpt-4o-mini")]


async def test_length_finish_is_an_incomplete_response(client, fakes):
    completion = orjson.loads(COMPLETION)
    completion["choices"][0]["finish_reason"] = "length"
    fakes.openai.queue("gpt-4o-mini", Reply(body=orjson.dumps(completion)))
    result = await client.responses.create(model=CHAT_ONLY, input="Hi", max_output_tokens=9)
    assert result.status == "incomplete" and result.incomplete_details.reason == "max_output_tokens"
    assert result.max_output_tokens == 9


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")
async def test_readme_curl_example(base, fakes):
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/v1/responses", "-H", "Content-Type: application/json",
        "-d", '{"model":"anthropic/claude-sonnet-4-5","instructions":"Be brief.","input":"Tell me a story",'
              '"stream":true}',
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    events = sse(out)
    assert [name for name, _ in events][:5] == ["response.created", "response.in_progress",
                                                "response.output_item.added", "response.content_part.added",
                                                "response.output_text.delta"]
    assert events[4][1]["sequence_number"] == 4 and events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["usage"]["input_tokens"] == 25
    assert fakes.anthropic.calls[0].body["system"] == [{"type": "text", "text": "Be brief."}]


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(
    max_size=10)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
hostile_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from([ANTHROPIC, "openai/gpt-4o-mini", "gpt-4o", "", "nope/x"]) | json_values},
    optional={name: json_values for name in ("input", "instructions", "tools", "tool_choice", "text", "reasoning",
                                             "stream", "store", "previous_response_id", "fallbacks")})


@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=hostile_bodies)
async def test_any_body_gets_an_answer_or_a_4xx_in_openai_shape_never_a_5xx(base, http, body):
    # json, not orjson: integers past 64 bits go out too (and must come back a 400)
    async with http.post(f"{base}/v1/responses", data=json.dumps(body),
                         headers={"Content-Type": "application/json"}) as resp:
        raw = await resp.read()
    assert resp.status < 500, (resp.status, raw[:300])
    if resp.status >= 400:
        error = orjson.loads(raw)["error"]
        assert set(error) == {"message", "type", "code", "param"} and error["message"]


async def test_a_drain_cut_ends_a_translated_stream_with_response_failed(serve_app, fakes, http):
    app = make_app(parse_config(config(fakes), "<test>", {}))
    base = await serve_app(app)
    fakes.openai.queue("gpt-4o-mini", Reply(gate_after=2))
    async with http.post(f"{base}/v1/responses", json={"model": CHAT_ONLY, "input": "Hi", "stream": True}) as resp:
        seen = b""
        async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
            while b"response.output_text.delta" not in seen:
                seen += await resp.content.readany()
        assert await app[DRAIN].wait(0.01) == 1
        events = sse(seen + await resp.read())
    assert events[-1][0] == "response.failed" and "response.completed" not in [name for name, _ in events]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert "shutting down" in events[-1][1]["response"]["error"]["message"]
