"""Gemini's API in front of the gateway, over real sockets: google-genai and raw HTTP against the routes,
passed through to a Gemini upstream (FakeGoogle), errors in Google's shape, streams as Gemini frames them."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from google.genai import errors, types

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import DRAIN
from bifrost_proxy.config.load import parse_config
from tests.fakes.gemini import Reply
from tests.fakes.genai_events import events, shape
from tests.fakes.genai_gateway import CLIENT_KEY, GOOGLE_KEY, SDK_WARNING, Fakes, genai_client, start_fakes
from tests.fakes.recording import recording

MODEL = "gemini-2.5-flash"
POEM = ("Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴),\n"
        "nap in the sun 🐈☀️ and dream of mice.")
URL = "/genai/v1beta/models/gemini-2.5-flash:generateContent"
STREAM_URL = "/genai/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "A poem about two cats"}]}]}
pytestmark = pytest.mark.filterwarnings(SDK_WARNING)


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


async def test_google_genai_default_v1_reaches_gemini_untouched(base, fakes):
    async with genai_client(base) as client:
        answer = await client.models.generate_content(
            model=MODEL, contents="A poem about two cats",
            config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.3,
                                               thinking_config=types.ThinkingConfig(include_thoughts=True)))
    assert answer.text == POEM and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata.total_token_count == 78 and answer.usage_metadata.thoughts_token_count == 40
    assert answer.candidates[0].content.parts[0].thought is True
    (seen,) = fakes.google.calls
    # the provider's API version and key, the client's body as it sent it
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent" and seen.headers["x-goog-api-key"] == GOOGLE_KEY
    assert seen.body["systemInstruction"] == {"parts": [{"text": "Be brief."}], "role": "user"}
    assert seen.body["generationConfig"]["temperature"] == 0.3


async def test_passthrough_keeps_every_field_and_answers_with_the_upstreams_bytes(base, fakes, http):
    native = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Zürich?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}},
                                         "thoughtSignature": "CiQB0e2Kb3Jk"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]}],
        "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "get_weather"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc123", "someFutureField": {"x": [1, 2]},
        "generation_config": {"thinking_config": {"thinking_budget": 1024}},
    }
    upstream_answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "21 °C"}]},
                                       "finishReason": "STOP", "index": 0,
                                       "groundingMetadata": {"webSearchQueries": ["x"]}}],
                       "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 3, "totalTokenCount": 33},
                       "modelVersion": MODEL, "responseId": "abc"}
    fakes.google.queue(MODEL, Reply(body=upstream_answer))
    async with http.post(f"{base}{URL}?key={CLIENT_KEY}", json=native) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert resp.headers["x-bifrost-provider"] == "gemini"
        assert orjson.loads(await resp.read()) == upstream_answer
    (seen,) = fakes.google.calls
    assert seen.body == native and seen.query == {}


async def test_a_stream_passes_through_byte_for_byte(base, fakes, http):
    async with http.post(f"{base}{STREAM_URL}", json=HELLO, headers={"x-goog-api-key": CLIENT_KEY}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
        raw = await resp.read()
    assert raw == recording("gemini_stream_text.sse")
    assert [shape(e) for e in events(raw)] == ["thought usage", "text usage", "text usage", "finish=STOP usage"]
    assert fakes.google.calls[0].query == {"alt": "sse"}


async def test_google_genai_streams_v1beta(base):
    async with genai_client(base, api_version="v1beta") as client:
        chunks = [c async for c in await client.models.generate_content_stream(model=MODEL, contents="Two cats")]
    assert "".join(c.text or "" for c in chunks) == POEM
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == 78


async def test_no_pings_in_a_gemini_stream_and_a_stall_ends_with_one_google_error_event(gateway, fakes, http):
    base = await gateway(fakes.config(network={"stream_keepalive_interval_in_seconds": 0.01,
                                               "stream_idle_timeout_in_seconds": 0.3}))
    fakes.google.queue(MODEL, Reply(hang_after=1))
    async with http.post(f"{base}{STREAM_URL}", json=HELLO) as resp:
        raw = await resp.read()
    # thirty keep-alive intervals of silence passed; a ": ping" would break google-genai (UnknownApiResponseError)
    assert b": ping" not in raw
    out = events(raw)
    assert [shape(e) for e in out] == ["thought usage", "error"]
    assert out[1]["error"]["code"] == 504 and out[1]["error"]["status"] == "DEADLINE_EXCEEDED"
    assert out[1]["error"]["details"][0]["reason"] == "STREAM_IDLE_TIMEOUT"


async def test_google_genai_raises_on_a_failure_mid_stream(base, fakes):
    fakes.google.queue(MODEL, Reply(garbage_after=2))
    texts = []
    async with genai_client(base) as client:
        with pytest.raises(errors.ServerError) as caught:
            async for chunk in await client.models.generate_content_stream(model=MODEL, contents="Two cats"):
                texts.append(chunk.text)
    assert texts == [None, "Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴)"]
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"


async def test_an_upstream_rate_limit_keeps_googles_shape_and_retry_delay(base, fakes, http):
    fakes.google.queue(MODEL, Reply(status=429, error_status="RESOURCE_EXHAUSTED", error_message="Quota exceeded",
                                    retry_delay="37s"))
    async with http.post(f"{base}{URL}", json=HELLO) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "37"
        error = (await resp.json())["error"]
    assert (error["code"], error["status"], error["message"]) == (429, "RESOURCE_EXHAUSTED", "Quota exceeded")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"} in error["details"]
    async with genai_client(base) as client:  # the only key now cools down for the upstream's 37 s
        with pytest.raises(errors.ClientError) as caught:
            await client.models.generate_content(model=MODEL, contents="Two cats")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    assert "cooling down" in caught.value.message and len(fakes.google.calls) == 1


async def test_an_upstream_status_name_is_kept(base, fakes, http):
    fakes.google.queue(MODEL, Reply(status=400, error_status="FAILED_PRECONDITION",
                                    error_message="User location is not supported for the API use."))
    async with http.post(f"{base}{URL}", json=HELLO) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["status"] == "FAILED_PRECONDITION" and error["message"].startswith("User location")


@pytest.mark.parametrize("method, path, body, status, param", [
    ("POST", URL, b"{not json", 400, None),
    ("POST", URL, b"[]", 400, None),
    ("POST", URL, b'{"contents": []}', 400, "contents"),
    ("POST", URL, b'{"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}', 400, "contents[0].role"),
    ("POST", "/genai/v1beta/models/gemini-2.5-flash:streamGenerateContent", b'{"contents": []}', 400, "alt"),
    ("POST", "/genai/v1beta/models/:generateContent", b"{}", 400, "model"),
    ("POST", "/genai/v1beta/models/openai/:generateContent", orjson.dumps(HELLO), 400, "model"),
    ("POST", "/genai/v1beta/models/gemini-2.5-flash:countTokens", b"{}", 404, None),
    ("POST", "/genai/v2/models/gemini-2.5-flash:generateContent", b"{}", 404, None),
    ("GET", URL, None, 404, None),
    ("GET", "/genai/v1beta/models", None, 404, None),
])
async def test_bad_requests_get_googles_error_shape(base, fakes, http, method, path, body, status, param):
    async with http.request(method, f"{base}{path}", data=body,
                            headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert error["code"] == status and error["status"] == {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}[status]
    assert isinstance(error["message"], str) and error["message"]
    violations = [d for d in error["details"] if d["@type"].endswith("BadRequest")]
    if param is not None:
        assert violations[0]["fieldViolations"][0]["field"] == param
    assert fakes.google.calls == []


async def test_bare_names_go_to_gemini_and_aliases_apply_first(gateway, fakes, http):
    base = await gateway(fakes.config(model_aliases={"fast": "openai/gpt-4o-mini"}))
    async with http.post(f"{base}/genai/v1/models/gemini-2.5-pro:generateContent", json=HELLO) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "gemini"
    async with http.post(f"{base}/genai/v1/models/fast:generateContent", json=HELLO) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "openai"
    assert [c.model for c in fakes.google.calls] == ["gemini-2.5-pro"]
    assert fakes.openai.calls[0].body["model"] == "gpt-4o-mini"


async def test_gemini_only_features_pass_to_gemini_and_are_refused_for_translation(base, fakes, http):
    body = {**HELLO, "tools": [{"googleSearch": {}}]}
    async with http.post(f"{base}{URL}", json=body) as resp:
        assert resp.status == 200
    assert fakes.google.calls[0].body["tools"] == [{"googleSearch": {}}]
    for path, request in [("/genai/v1beta/models/openai/gpt-4o-mini:generateContent", body),
                          (URL, {**body, "fallbacks": ["openai/gpt-4o-mini"]})]:
        async with http.post(f"{base}{path}", json=request) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert error["details"][0]["reason"] == "UNSUPPORTED_PARAMETER"
        assert error["details"][1]["fieldViolations"][0]["field"] == "tools[0].googleSearch"
        assert "openai/gpt-4o-mini" in error["message"]
    assert len(fakes.google.calls) == 1 and fakes.openai.calls == []


async def test_a_failing_gemini_falls_back_to_a_translated_provider(base, fakes, http):
    fakes.google.queue(MODEL, Reply(status=503, error_status="UNAVAILABLE", error_message="overloaded"))
    async with http.post(f"{base}{URL}", json={**HELLO, "fallbacks": ["openai/gpt-4o-mini"]}) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "openai"
        answer = await resp.json()
    assert answer["candidates"][0]["content"]["parts"] == [{"text": "Once upon a time, in Zürich 🐉."}]
    assert "fallbacks" not in fakes.google.calls[0].body and "fallbacks" not in fakes.openai.calls[0].body


async def test_vertex_gemini_models_get_the_request_untouched(base, fakes, http):
    native = {**HELLO, "labels": {"team": "a"}, "someFutureField": True}
    async with http.post(f"{base}/genai/v1beta/models/vertex/gemini-2.5-flash:streamGenerateContent?alt=sse",
                         json=native) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "vertex"
        raw = await resp.read()
    assert raw == recording("gemini_stream_text.sse")
    (seen,) = fakes.google.calls
    assert seen.path == "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
    assert seen.body == native and seen.headers["x-goog-api-key"] == GOOGLE_KEY


async def test_claude_on_vertex_is_translated(base, fakes):
    async with genai_client(base) as client:
        answer = await client.models.generate_content(model="vertex/claude-sonnet-4-5", contents="Hello")
        chunks = [c async for c in await client.models.generate_content_stream(model="vertex/claude-sonnet-4-5",
                                                                               contents="Hello")]
    assert answer.text and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert "".join(c.text or "" for c in chunks) and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert [c.method for c in fakes.google.calls] == ["rawPredict", "streamRawPredict"]
    assert fakes.google.calls[0].body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]


async def test_usage_reaches_the_access_log(base, http, caplog):
    async with http.post(f"{base}{STREAM_URL}", json=HELLO, headers={"X-Request-ID": "genai-usage"}) as resp:
        await resp.read()

    async def logged():
        return [orjson.loads(r.getMessage()) for r in caplog.records
                if r.name == "bifrost_proxy.access" and "genai-usage" in r.getMessage()]

    async with asyncio.timeout(5):
        while not (lines := await logged()):
            await asyncio.sleep(0.01)
    assert lines[0]["route"].startswith("/genai/v1beta/models/") and lines[0]["provider"] == "gemini"
    assert (lines[0]["tokens_in"], lines[0]["tokens_out"]) == (11, 67)


async def test_the_drain_ends_a_gemini_stream_with_a_google_error_event(serve_app, fakes, http):
    app = make_app(parse_config(fakes.config(), "<test>", {}))
    base = await serve_app(app)
    fakes.google.queue(MODEL, Reply(hang_after=1))
    async with http.post(f"{base}{STREAM_URL}", json=HELLO) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert first == recording("gemini_stream_text.sse").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        assert await app[DRAIN].wait(0.01) == 1
        rest = await asyncio.wait_for(resp.read(), 5)
    [error] = events(rest)
    assert error["error"]["code"] == 503 and error["error"]["details"][0]["reason"] == "SERVER_SHUTTING_DOWN"
