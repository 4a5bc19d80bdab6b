"""Gemini clients reaching providers that do not speak Gemini: google-genai against the gateway, translated
to OpenAI's and Anthropic's wire formats (FakeOpenAI, FakeAnthropic) and back, over real sockets."""
from __future__ import annotations

import asyncio
import shutil

import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes import anthropic as fake_anthropic
from tests.fakes.genai_events import events, shape
from tests.fakes.genai_gateway import CLIENT_KEY, SDK_WARNING, Fakes, genai_client, start_fakes
from tests.fakes.openai import TOOLS_STREAM, Reply

pytestmark = pytest.mark.filterwarnings(SDK_WARNING)
OPENAI = "openai/gpt-4o-mini"
STORY = "Once upon a time, in Zürich 🐉."
CALL_ID = "call_DdmO9pD3xa9XTPNJ32zg2hcA"
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Current weather",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"location": types.Schema(type=types.Type.STRING)},
                            required=["location"]))
TOOL_COMPLETION = orjson.dumps({
    "id": "chatcmpl-tool1", "object": "chat.completion", "created": 1732555260, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
        "role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": CALL_ID, "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]}}],
    "usage": {"prompt_tokens": 80, "completion_tokens": 17, "total_tokens": 97}})


@pytest.fixture
async def fakes(serve_app) -> Fakes:
    return await start_fakes(serve_app)


@pytest.fixture
async def base(gateway, fakes) -> str:
    return await gateway(fakes.config())


@pytest.fixture(autouse=True)
def client_key_never_goes_upstream(fakes):
    yield
    assert not any(CLIENT_KEY in seen for seen in fakes.upstream_requests()), "the client's key went upstream"


async def test_generate_content_through_openai(base, fakes):
    async with genai_client(base) as client:
        answer = await client.models.generate_content(
            model=OPENAI, contents="Tell me a story",
            config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2, max_output_tokens=64,
                                               stop_sequences=["THE END"]))
    assert answer.text == STORY and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.model_version == "gpt-4o-mini-2024-07-18" and answer.response_id == "chatcmpl-AXl2NONSTREAM"
    usage = answer.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (12, 9, 21)
    (seen,) = fakes.openai.calls
    assert seen.body == {"model": "gpt-4o-mini", "stream": False, "temperature": 0.2, "max_completion_tokens": 64,
                         "stop": ["THE END"], "messages": [{"role": "system", "content": "Be brief."},
                                                           {"role": "user", "content": "Tell me a story"}]}


async def test_stream_through_openai_is_gemini_events_in_gemini_order(base, fakes, http):
    url = f"{base}/genai/v1beta/models/{OPENAI}:streamGenerateContent?alt=sse"
    async with http.post(url, json={"contents": [{"parts": [{"text": "Tell me a story"}]}]}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        raw = await resp.read()
    out = events(raw)  # data: {...}\r\n\r\n only: no [DONE], no pings
    assert [shape(e) for e in out] == ["text", "text", "text", "text", "finish=STOP usage"]
    assert out[-1]["usageMetadata"] == {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21}
    # usage was asked for on the client's behalf, so that it could be counted and reported
    assert fakes.openai.calls[0].body["stream_options"] == {"include_usage": True}
    async with genai_client(base) as client:
        chunks = [c async for c in await client.models.generate_content_stream(model=OPENAI, contents="A story")]
    assert "".join(c.text for c in chunks) == STORY
    assert [c.candidates[0].finish_reason for c in chunks][-1] == types.FinishReason.STOP


async def test_a_tool_round_trip_through_openai(base, fakes):
    fakes.openai.queue("gpt-4o-mini", Reply(body=TOOL_COMPLETION), Reply())
    tools = [types.Tool(function_declarations=[WEATHER])]
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")])
    async with genai_client(base) as client:
        first = await client.models.generate_content(
            model=OPENAI, contents=[question],
            config=types.GenerateContentConfig(tools=tools, tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY))))
        [call] = first.function_calls
        assert (call.name, call.args, call.id) == ("get_weather", {"location": "Paris"}, CALL_ID)
        answer = types.Part.from_function_response(name="get_weather", response={"temperature_c": 18})
        second = await client.models.generate_content(
            model=OPENAI, contents=[question, first.candidates[0].content, types.Content(role="user", parts=[answer])],
            config=types.GenerateContentConfig(tools=tools))
    assert second.text == STORY
    offered, answered = (c.body for c in fakes.openai.calls)
    assert offered["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
    assert offered["tool_choice"] == "required"
    assert answered["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": CALL_ID, "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": CALL_ID, "content": '{"temperature_c":18}'}]


async def test_a_streamed_tool_call_arrives_whole(base, fakes):
    fakes.openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    async with genai_client(base) as client:
        chunks = [c async for c in await client.models.generate_content_stream(
            model=OPENAI, contents="Weather in Paris?",
            config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])]))]
    [chunk] = chunks
    [call] = chunk.function_calls
    assert (call.name, call.args) == ("get_weather", {"location": "Paris"})


async def test_generate_content_through_anthropic(base, fakes):
    async with genai_client(base) as client:
        answer = await client.models.generate_content(
            model="anthropic/claude-sonnet-4-5", contents="Hello",
            config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=300))
        chunks = [c async for c in await client.models.generate_content_stream(
            model="anthropic/claude-sonnet-4-5", contents="Hello")]
    assert answer.text and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata.total_token_count > 0
    assert len(chunks) >= 2 and "".join(c.text or "" for c in chunks)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    first = fakes.anthropic.calls[0].body
    assert first["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}]) and first["max_tokens"] == 300


async def test_anthropic_tool_use_becomes_a_function_call(base, fakes):
    async with genai_client(base) as client:
        answer = await client.models.generate_content(
            model="anthropic/claude-sonnet-4-5", contents="Weather?",
            config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])]))
    recorded = orjson.loads(fake_anthropic.TOOLS_MESSAGE)
    [use] = [b for b in recorded["content"] if b["type"] == "tool_use"]
    [call] = answer.function_calls
    assert (call.name, call.args, call.id) == (use["name"], use["input"], use["id"])


async def test_a_failure_mid_stream_is_one_google_error_event(base, fakes, http):
    fakes.openai.queue("gpt-4o-mini", Reply(reset_after=3))
    url = f"{base}/genai/v1beta/models/{OPENAI}:streamGenerateContent?alt=sse"
    async with http.post(url, json={"contents": [{"parts": [{"text": "A story"}]}]}) as resp:
        raw = await resp.read()
    out = events(raw)
    assert [shape(e) for e in out] == ["text", "text", "error"]  # and no finishReason: the answer is cut
    assert out[-1]["error"]["code"] == 502 and out[-1]["error"]["status"] == "UNAVAILABLE"
    fakes.openai.queue("gpt-4o-mini", Reply(reset_after=3))
    texts = []
    async with genai_client(base) as client:
        with pytest.raises(errors.ServerError) as caught:
            async for chunk in await client.models.generate_content_stream(model=OPENAI, contents="A story"):
                texts.append(chunk.text)
    assert texts == ["Once", " upon"] and caught.value.code == 502


@pytest.mark.parametrize("model, queue, status, name", [
    ("openai/gpt-4o-mini", lambda f: f.openai.queue("gpt-4o-mini", Reply(status=400, error_message="bad value",
                                                                          error_type="invalid_request_error")),
     400, "INVALID_ARGUMENT"),
    ("anthropic/claude-sonnet-4-5", lambda f: f.anthropic.queue(
        "claude-sonnet-4-5",
        fake_anthropic.Reply(status=529, error_type="overloaded_error", error_message="Overloaded")),
     503, "UNAVAILABLE"),
])
async def test_upstream_errors_come_back_in_googles_shape(base, fakes, http, model, queue, status, name):
    queue(fakes)
    async with http.post(f"{base}/genai/v1beta/models/{model}:generateContent",
                         json={"contents": [{"parts": [{"text": "hi"}]}]}) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert (error["code"], error["status"]) == (status, name)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")
async def test_readme_curl_example(base):
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/genai/v1beta/models/openai/gpt-4o-mini:streamGenerateContent?alt=sse",
        "-H", "Content-Type: application/json",
        "-d", '{"contents":[{"role":"user","parts":[{"text":"Tell me a story"}]}]}', stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert out.startswith(b'data: {"candidates":[{"content":{"parts":[{"text":"Once"}],"role":"model"},"index":0}],'
                          b'"modelVersion":"gpt-4o-mini-2024-07-18","responseId":"chatcmpl-')
    assert [shape(e) for e in events(out)][-1] == "finish=STOP usage"


async def test_readme_python_example_with_the_blocking_client(base):
    """google-genai's blocking client reads streams with its own SSE line decoder (httpx), not aiohttp's."""
    def readme() -> tuple[str, list[str]]:
        client = genai.Client(api_key="unused", http_options=types.HttpOptions(base_url=f"{base}/genai"))
        with client:
            answer = client.models.generate_content(model="anthropic/claude-sonnet-4-5", contents="Tell me a story")
            chunks = [c.text or "" for c in client.models.generate_content_stream(model=OPENAI, contents="A story")]
        return answer.text, chunks

    text, chunks = await asyncio.to_thread(readme)
    assert text and "".join(chunks) == STORY
