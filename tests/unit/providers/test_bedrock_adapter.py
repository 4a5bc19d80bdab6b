"""The bedrock adapter: URLs, credentials and signing, validation, and the non-stream answers and errors."""
from __future__ import annotations

import base64
import hashlib
import struct
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

import orjson
import pytest
import yarl

from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.bedrock import ADAPTER, BedrockAdapter, sigv4

RECORDINGS = Path(__file__).parents[2] / "fakes" / "recordings"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOW = datetime(2024, 5, 1, 9, 30, 15, tzinfo=timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def key(**settings) -> KeyConfig:
    return KeyConfig(name="aws", value=settings.pop("value", ""), settings=MappingProxyType(settings))


def provider(base_url: str = "", keys: tuple[KeyConfig, ...] = (), **network) -> ProviderConfig:
    return ProviderConfig(name="bedrock", type="bedrock", keys=keys, network=NetworkConfig(base_url, **network))


def chat(model: str = CLAUDE, stream: bool = False, **fields) -> Call:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return Call(Endpoint.CHAT, model, {"model": f"bedrock/{model}", **fields}, stream=stream)


def embed(model: str, **fields) -> Call:
    return Call(Endpoint.EMBEDDINGS, model, {"model": f"bedrock/{model}", **fields})


ADAPTER_AT_NOW = BedrockAdapter(clock=lambda: NOW)
KEY = key(access_key="AKIDEXAMPLE", secret_key=SECRET, region="eu-west-3")


def test_supports_chat_and_embeddings_only():
    assert ADAPTER.wire_type == "bedrock"
    assert [e for e in Endpoint if ADAPTER.supports(e)] == [Endpoint.CHAT, Endpoint.EMBEDDINGS]
    with pytest.raises(BadRequest):
        ADAPTER.build_request(Call(Endpoint.SPEECH, "x", {}), provider(), KEY)


def test_default_url_per_region_and_model_id_with_colon():
    req = ADAPTER_AT_NOW.build_request(chat(), provider(), KEY)
    assert req.method == "POST"
    assert req.url == f"https://bedrock-runtime.eu-west-3.amazonaws.com/model/{CLAUDE}/converse"
    assert ADAPTER_AT_NOW.build_request(chat(), provider(), key(access_key="a", secret_key="b")).url.startswith(
        "https://bedrock-runtime.us-east-1.amazonaws.com/")
    stream = ADAPTER_AT_NOW.build_request(chat(stream=True), provider(), KEY)
    assert stream.url.endswith("/converse-stream")
    assert stream.headers["Accept"] == "application/vnd.amazon.eventstream"


def test_base_url_overrides_and_host_carries_the_port():
    req = ADAPTER_AT_NOW.build_request(chat(), provider("http://127.0.0.1:8123"), KEY)
    assert req.url == f"http://127.0.0.1:8123/model/{CLAUDE}/converse"
    assert req.headers["Host"] == "127.0.0.1:8123"


@pytest.mark.parametrize("model", [CLAUDE, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic"
                                   ".claude-3-5-sonnet-20240620-v1:0", "weird model+name"])
def test_the_url_is_sent_exactly_as_signed(model):
    # aiohttp hands the URL to yarl, which un-escapes some %XX: the path signed must be the path sent
    req = ADAPTER_AT_NOW.build_request(chat(model), provider(), KEY)
    assert str(yarl.URL(req.url)) == req.url
    segment = req.url.split("/model/", 1)[1].rsplit("/", 1)[0]
    assert yarl.URL(req.url).path.split("/model/", 1)[1].rsplit("/", 1)[0] == model
    assert "/" not in segment


def test_sigv4_headers_and_signature():
    req = ADAPTER_AT_NOW.build_request(chat(), provider(), KEY)
    assert req.body == b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    h = req.headers
    assert h["Content-Type"] == "application/json" and h["Accept"] == "application/json"
    assert h["X-Amz-Date"] == "20240501T093015Z"
    assert h["X-Amz-Content-Sha256"] == hashlib.sha256(req.body).hexdigest()
    assert "X-Amz-Security-Token" not in h
    assert h["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/eu-west-3/bedrock/aws4_request, "
        "SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date, Signature=")
    # recompute independently of sign(): canonical request from the headers as they will be sent
    signed = ["accept", "content-type", "host", "x-amz-content-sha256", "x-amz-date"]
    lines = "".join(f"{n}:{next(v for k, v in h.items() if k.lower() == n)}\n" for n in signed)
    creq = "\n".join(["POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "", lines,
                      ";".join(signed), hashlib.sha256(req.body).hexdigest()])
    assert h["Authorization"].endswith(sigv4.signature(SECRET, "20240501T093015Z", "eu-west-3", "bedrock", creq))


def test_session_token_and_extra_headers_are_signed():
    k = key(access_key="AKIDEXAMPLE", secret_key=SECRET, session_token="tok/en==")
    req = ADAPTER_AT_NOW.build_request(chat(), provider(extra_headers={"X-Team": "ml"}), k)
    assert req.headers["X-Amz-Security-Token"] == "tok/en=="
    assert "SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-team," \
        in req.headers["Authorization"]


def test_a_fresh_timestamp_per_request():
    times = iter([NOW, datetime(2024, 5, 2, tzinfo=timezone.utc)])
    adapter = BedrockAdapter(clock=lambda: next(times))
    assert adapter.build_request(chat(), provider(), KEY).headers["X-Amz-Date"] == "20240501T093015Z"
    assert adapter.build_request(chat(), provider(), KEY).headers["X-Amz-Date"] == "20240502T000000Z"


def test_bedrock_api_key_as_bearer_when_no_access_key_pair():
    req = ADAPTER.build_request(chat(), provider(), key(value="bedrock-api-key-123"))
    assert req.headers["Authorization"] == "Bearer bedrock-api-key-123"
    assert "X-Amz-Date" not in req.headers


def test_validate():
    assert ADAPTER.validate(provider(keys=(KEY, key(value="api-key")))) == []
    assert ADAPTER.validate(provider(keys=(key(),))) == [
        "keys[0].bedrock_key_config: needs access_key and secret_key (or a Bedrock API key as the key's value)"]
    assert ADAPTER.validate(provider(keys=(KEY, key(access_key="x")))) == [
        "keys[1].bedrock_key_config.secret_key: required with access_key"]
    assert ADAPTER.validate(provider(keys=(key(secret_key=SECRET, region="Mars"),))) == [
        "keys[0].bedrock_key_config.access_key: required with secret_key",
        "keys[0].bedrock_key_config.region: must be an AWS region name like us-east-1"]
    assert SECRET not in repr(KEY) and SECRET not in repr(provider(keys=(KEY,)))


def test_translation_errors_surface_from_build_request():
    with pytest.raises(BadRequest) as err:
        ADAPTER.build_request(chat(n=3), provider(), KEY)
    assert err.value.param == "n"


def test_parse_text_response():
    body = (RECORDINGS / "bedrock_converse.json").read_bytes()
    call = chat()
    out = orjson.loads(ADAPTER.parse_response(call, {"x-amzn-RequestId": "req-1"}, body))
    assert call.usage == out["usage"]
    assert out["id"] == "chatcmpl-req-1" and out["object"] == "chat.completion" and out["model"] == CLAUDE
    assert isinstance(out["created"], int)
    message = {"role": "assistant", "content": "Bonjour à vous — ça va? 🙂"}
    assert out["choices"] == [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}]
    assert out["usage"] == {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21,
                            "prompt_tokens_details": {"cached_tokens": 0}}


def test_parse_tool_response():
    body = (RECORDINGS / "bedrock_converse_tools.json").read_bytes()
    out = orjson.loads(ADAPTER.parse_response(chat(), {}, body))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check the weather."
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "get_weather"
    assert orjson.loads(tool_call["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert out["usage"]["prompt_tokens"] == 488 and out["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert out["id"].startswith("chatcmpl-")


@pytest.mark.parametrize("stop,finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                         ("tool_use", "tool_calls"), ("content_filtered", "content_filter"),
                                         ("guardrail_intervened", "content_filter"), ("brand_new", "stop")])
def test_stop_reasons(stop, finish):
    body = orjson.dumps({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": stop})
    out = orjson.loads(ADAPTER.parse_response(chat(), {}, body))
    assert out["choices"][0]["finish_reason"] == finish
    assert out["choices"][0]["message"]["content"] is None and "usage" not in out


def test_reasoning_blocks_become_reasoning_content():
    body = orjson.dumps({"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s"}}}, {"text": "answer"}]}},
        "stopReason": "end_turn"})
    message = orjson.loads(ADAPTER.parse_response(chat(), {}, body))["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "answer", "reasoning_content": "think"}


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"output": {}}', b'{"output": []}',
                                  b'{"output": {"message": {"content": "text"}}}'])
def test_malformed_responses(body):
    with pytest.raises(UpstreamError) as err:
        ADAPTER.parse_response(chat(), {}, body)
    assert err.value.status == 502


def error(status: int, kind: str | None, message: str = "msg", **headers) -> object:
    if kind:
        headers["x-amzn-ErrorType"] = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return ADAPTER.parse_error(chat(), status, headers, orjson.dumps({"message": message}))


@pytest.mark.parametrize("status,kind,cls,out", [
    (400, "ValidationException", BadRequest, 400),
    (403, "AccessDeniedException", PermissionDenied, 403),
    (403, "UnrecognizedClientException", AuthenticationFailed, 401),
    (403, "InvalidSignatureException", AuthenticationFailed, 401),
    (403, "ExpiredTokenException", AuthenticationFailed, 401),
    (404, "ResourceNotFoundException", NotFound, 404),
    (429, "ThrottlingException", RateLimited, 429),
    (429, "ModelNotReadyException", UpstreamUnavailable, 503),
    (408, "ModelTimeoutException", UpstreamTimeout, 504),
    (424, "ModelErrorException", UpstreamError, 502),
    (500, "InternalServerException", UpstreamUnavailable, 500),
    (503, "ServiceUnavailableException", UpstreamUnavailable, 503),
    (400, "ServiceQuotaExceededException", BadRequest, 400),
    (418, None, BadRequest, 418),
])
def test_error_statuses(status, kind, cls, out):
    err = error(status, kind, "the upstream message")
    assert type(err) is cls and err.status == out and err.message == "the upstream message"
    assert err.code == kind


def test_throttling_keeps_retry_after_and_header_case_does_not_matter():
    err = ADAPTER.parse_error(chat(), 429, {"X-AMZN-ERRORTYPE": "ThrottlingException", "retry-after": "7"},
                              b'{"message": "slow down"}')
    assert isinstance(err, RateLimited) and err.retry_after == 7 and err.retryable
    assert error(429, "ThrottlingException").retry_after is None


def test_error_kind_from_the_body_and_capitalised_message():
    err = ADAPTER.parse_error(chat(), 400, {}, b'{"__type": "com.amazon.coral.validate#ValidationException", '
                                               b'"Message": "bad input"}')
    assert err.code == "ValidationException" and err.message == "bad input"


def test_error_without_a_json_body():
    err = ADAPTER.parse_error(chat(), 502, {}, b"<html>Bad Gateway</html>")
    assert err.status == 502 and "502" in err.message


def test_titan_embeddings():
    req = ADAPTER_AT_NOW.build_request(embed("amazon.titan-embed-text-v2:0", input="hello", dimensions=256),
                                       provider(), KEY)
    assert req.url.endswith("/model/amazon.titan-embed-text-v2:0/invoke")
    assert orjson.loads(req.body) == {"inputText": "hello", "dimensions": 256}
    assert orjson.loads(ADAPTER.build_request(embed("amazon.titan-embed-text-v2:0", input=["one"]), provider(),
                                              KEY).body) == {"inputText": "one"}
    with pytest.raises(BadRequest) as err:
        ADAPTER.build_request(embed("amazon.titan-embed-text-v2:0", input=["a", "b"]), provider(), KEY)
    assert err.value.param == "input" and "one text per request" in err.value.message
    out = orjson.loads(ADAPTER.parse_response(embed("amazon.titan-embed-text-v2:0", input="hello"), {},
                                              (RECORDINGS / "bedrock_titan_embed.json").read_bytes()))
    assert out == {"object": "list", "model": "amazon.titan-embed-text-v2:0",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789, -0.0012]}],
                   "usage": {"prompt_tokens": 5, "total_tokens": 5}}


def test_cohere_embeddings():
    call = embed("cohere.embed-english-v3", input=["hello world", "bonjour"], input_type="search_query")
    assert orjson.loads(ADAPTER.build_request(call, provider(), KEY).body) == {
        "texts": ["hello world", "bonjour"], "input_type": "search_query"}
    assert orjson.loads(ADAPTER.build_request(embed("cohere.embed-multilingual-v3", input="x"), provider(),
                                              KEY).body) == {"texts": ["x"], "input_type": "search_document"}
    out = orjson.loads(ADAPTER.parse_response(call, {"X-Amzn-Bedrock-Input-Token-Count": "6"},
                                              (RECORDINGS / "bedrock_cohere_embed.json").read_bytes()))
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["data"][1]["embedding"] == [-0.005, 0.011, 0.027]
    assert out["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    typed = orjson.dumps({"embeddings": {"float": [[1.0, 2.0]]}})
    assert orjson.loads(ADAPTER.parse_response(embed("cohere.embed-english-v3", input="x"), {}, typed))["data"][0][
        "embedding"] == [1.0, 2.0]


def test_base64_embeddings_are_little_endian_float32():
    out = orjson.loads(ADAPTER.parse_response(embed("amazon.titan-embed-text-v1", input="x",
                                                    encoding_format="base64"), {},
                                              b'{"embedding": [1.5, -2.0], "inputTextTokenCount": 1}'))
    assert struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"])) == (1.5, -2.0)


@pytest.mark.parametrize("model,fields,param", [
    ("meta.llama3-8b-instruct-v1:0", {"input": "x"}, "model"),
    ("amazon.titan-embed-text-v2:0", {"input": [1, 2, 3]}, "input"),
    ("amazon.titan-embed-text-v2:0", {"input": []}, "input"),
    ("cohere.embed-english-v3", {"input": "x", "dimensions": 8}, "dimensions"),
    ("cohere.embed-english-v3", {"input": "x", "input_type": "poetry"}, "input_type"),
])
def test_embedding_requests_refused(model, fields, param):
    with pytest.raises(BadRequest) as err:
        ADAPTER.build_request(embed(model, **fields), provider(), KEY)
    assert err.value.param == param


def test_malformed_embedding_answers():
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(embed("amazon.titan-embed-text-v2:0", input="x"), {}, b'{"embedding": "nope"}')
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(embed("cohere.embed-english-v3", input="x"), {}, b'{"embeddings": [["a"]]}')
