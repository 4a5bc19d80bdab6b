"""Vertex AI: URLs, bodies per publisher, embeddings, errors, config validation and the authorize hook."""
from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bifrost_proxy.config.load import ConfigError, parse_config
from bifrost_proxy.errors import AuthenticationFailed, BadRequest, RateLimited
from bifrost_proxy.providers.anthropic import AnthropicStreamDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.gemini.stream import GeminiStreamDecoder
from bifrost_proxy.providers.vertex import ADAPTER
from bifrost_proxy.providers.vertex.adapter import TOKEN_CACHE
from bifrost_proxy.providers.vertex.auth import AccessTokenCache
from tests.fakes.gemini import FakeTokenSession as FakeSession

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CREDS = {"type": "service_account", "client_email": "gw@demo.iam.gserviceaccount.com", "private_key_id": "k1",
         "private_key": KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode(),
         "token_uri": "https://oauth2.example.test/token"}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


def provider(region="us-central1", base_url=None, creds=CREDS, value="", options=None, project="demo-project"):
    settings = {"region": region, "auth_credentials": creds}
    if project:
        settings["project_id"] = project
    config = {"keys": [{"name": "sa", "value": value, "vertex_key_config": settings}]}
    if base_url:
        config["network_config"] = {"base_url": base_url}
    if options:
        config["options"] = options
    return parse_config({"providers": {"vertex": config}}).providers["vertex"]


def chat(model="gemini-2.5-flash", stream=False, **body):
    return Call(Endpoint.CHAT, model, {"model": f"vertex/{model}", "messages": MESSAGES, **body}, stream=stream)


def test_gemini_urls_per_region():
    p = provider()
    req = ADAPTER.build_request(chat(), p, p.keys[0])
    assert req.url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/demo-project/locations/us-central1"
                       "/publishers/google/models/gemini-2.5-flash:generateContent")
    assert ADAPTER.build_request(chat(stream=True), p, p.keys[0]).url.endswith(
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    g = provider(region="global")
    assert ADAPTER.build_request(chat(), g, g.keys[0]).url == (
        "https://aiplatform.googleapis.com/v1/projects/demo-project/locations/global"
        "/publishers/google/models/gemini-2.5-flash:generateContent")
    b = provider(base_url="http://127.0.0.1:9")
    assert ADAPTER.build_request(chat(), b, b.keys[0]).url.startswith("http://127.0.0.1:9/v1/projects/demo-project/")


def test_gemini_body_is_the_gemini_translation_without_auth_headers():
    p = provider()
    req = ADAPTER.build_request(chat(temperature=0.1), p, p.keys[0])
    body = orjson.loads(req.body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["generationConfig"] == {"temperature": 0.1}
    assert "Authorization" not in req.headers and "x-goog-api-key" not in req.headers
    assert req.headers["Content-Type"] == "application/json"


def test_claude_models_use_raw_predict_with_the_vertex_anthropic_version():
    p = provider()
    req = ADAPTER.build_request(chat("claude-sonnet-4@20250514", max_tokens=50), p, p.keys[0])
    assert req.url.endswith("/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict")
    body = orjson.loads(req.body)
    assert body == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 50,
                    "system": [{"type": "text", "text": "Be brief."}],
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    stream = ADAPTER.build_request(chat("claude-sonnet-4@20250514", stream=True), p, p.keys[0])
    assert stream.url.endswith(":streamRawPredict") and orjson.loads(stream.body)["stream"] is True


def test_express_mode_api_key():
    p = provider(creds=None, value="AQ.express-key", project=None)
    req = ADAPTER.build_request(chat(), p, p.keys[0])
    assert req.url == "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "AQ.express-key"


def test_embeddings_use_predict():
    p = provider()
    call = Call(Endpoint.EMBEDDINGS, "text-embedding-005", {"input": ["a b", "c"], "dimensions": 256,
                                                            "encoding_format": "float"})
    req = ADAPTER.build_request(call, p, p.keys[0])
    assert req.url.endswith("/publishers/google/models/text-embedding-005:predict")
    assert orjson.loads(req.body) == {"instances": [{"content": "a b"}, {"content": "c"}],
                                      "parameters": {"outputDimensionality": 256}}
    answer = orjson.dumps({"predictions": [
        {"embeddings": {"values": [0.5, 1.0], "statistics": {"token_count": 2, "truncated": False}}},
        {"embeddings": {"values": [2.0, 4.0], "statistics": {"token_count": 1, "truncated": False}}}]})
    out = orjson.loads(ADAPTER.parse_response(call, {}, answer))
    assert [d["embedding"] for d in out["data"]] == [[0.5, 1.0], [2.0, 4.0]]
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3} and call.usage == out["usage"]
    with pytest.raises(BadRequest):
        ADAPTER.build_request(Call(Endpoint.EMBEDDINGS, "claude-3-haiku", {"input": "a"}), p, p.keys[0])


def test_responses_and_decoders_per_publisher():
    gemini_answer = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "hey"}]}, "finishReason": "STOP"}],
                                  "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}})
    call = chat()
    out = orjson.loads(ADAPTER.parse_response(call, {}, gemini_answer))
    assert out["choices"][0]["message"]["content"] == "hey" and call.usage["prompt_tokens"] == 3
    claude_answer = orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                                  "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
                                  "usage": {"input_tokens": 4, "output_tokens": 2}})
    out = orjson.loads(ADAPTER.parse_response(chat("claude-3-5-haiku@20241022"), {}, claude_answer))
    assert out["choices"][0]["message"]["content"] == "hello"
    assert isinstance(ADAPTER.stream_decoder(chat(stream=True)), GeminiStreamDecoder)
    assert isinstance(ADAPTER.stream_decoder(chat("claude-3-5-haiku@20241022", stream=True)), AnthropicStreamDecoder)


def test_errors_google_and_anthropic_shaped():
    quota = orjson.dumps({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
                                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}})
    for model in ("gemini-2.5-flash", "claude-3-5-haiku@20241022"):
        err = ADAPTER.parse_error(chat(model), 429, {}, quota)
        assert isinstance(err, RateLimited) and err.retry_after == 2.0 and err.message == "Quota exceeded"
    claude = orjson.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "bad max_tokens"}})
    err = ADAPTER.parse_error(chat("claude-3-5-haiku@20241022"), 400, {}, claude)
    assert isinstance(err, BadRequest) and err.message == "bad max_tokens" and err.type == "invalid_request_error"


@pytest.mark.parametrize("settings,fragment", [
    ({"region": "us-central1", "auth_credentials": CREDS}, "vertex_key_config.project_id: required"),
    ({"project_id": "p", "auth_credentials": CREDS}, "vertex_key_config.region: required"),
    ({"project_id": "p", "region": "r"}, "vertex_key_config.auth_credentials: required"),
    ({"project_id": "p", "region": "r", "auth_credentials": "{oops"}, "vertex_key_config.auth_credentials: not valid JSON"),
    ({"project_id": "p", "region": "r", "auth_credentials": {**CREDS, "private_key": "garbage"}},
     "vertex_key_config.auth_credentials.private_key: not a PEM private key"),
])
def test_validation_names_the_field(settings, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config({"providers": {"vertex": {"keys": [{"name": "sa", "vertex_key_config": settings}]}}})
    text = str(info.value)
    assert f"providers.vertex.keys[0].{fragment}" in text
    assert "BEGIN PRIVATE KEY" not in text and "garbage" not in text


def test_options_serve_as_defaults_for_every_key():
    config = parse_config({"providers": {"vertex": {
        "keys": [{"name": "sa", "vertex_key_config": {"auth_credentials": orjson.dumps(CREDS).decode()}}],
        "options": {"project_id": "shared", "region": "europe-west4"}}}})
    p = config.providers["vertex"]
    assert "/projects/shared/locations/europe-west4/" in ADAPTER.build_request(chat(), p, p.keys[0]).url


async def test_authorize_adds_a_cached_bearer_token():
    p = provider()
    session = FakeSession()
    state: dict = {}
    for _ in range(2):
        req = ADAPTER.build_request(chat(), p, p.keys[0])
        await ADAPTER.authorize(req, p, p.keys[0], session, state)
        assert req.headers["Authorization"] == "Bearer tok-1"
    assert len(session.posts) == 1 and isinstance(state[TOKEN_CACHE], AccessTokenCache)


async def test_authorize_without_credentials_does_nothing():
    p = provider(creds=None, value="AQ.express-key", project=None)
    req = ADAPTER.build_request(chat(), p, p.keys[0])
    session = FakeSession()
    await ADAPTER.authorize(req, p, p.keys[0], session, {})
    assert "Authorization" not in req.headers and not session.posts


async def test_authorize_with_unusable_credentials_is_an_auth_failure():
    from types import MappingProxyType
    from bifrost_proxy.config.schema import KeyConfig

    p = provider()
    key = KeyConfig(name="broken", settings=MappingProxyType({"project_id": "p", "region": "r",
                                                              "auth_credentials": "{oops"}))
    with pytest.raises(AuthenticationFailed) as info:
        await ADAPTER.authorize(ADAPTER.build_request(chat(), p, key), p, key, FakeSession(), {})
    assert "broken" in info.value.message


async def test_forget_authorization_makes_the_next_request_fetch_a_new_token():
    p = provider()
    session = FakeSession()
    state: dict = {}
    ADAPTER.forget_authorization(p, p.keys[0], state)  # nothing cached yet: nothing to do
    tokens = []
    for _ in range(2):
        req = ADAPTER.build_request(chat(), p, p.keys[0])
        await ADAPTER.authorize(req, p, p.keys[0], session, state)
        tokens.append(req.headers["Authorization"])
        ADAPTER.forget_authorization(p, p.keys[0], state)
    assert tokens == ["Bearer tok-1", "Bearer tok-2"]
