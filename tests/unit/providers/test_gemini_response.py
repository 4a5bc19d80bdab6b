"""Gemini GenerateContentResponse -> OpenAI chat.completion, and Google error bodies -> GatewayError."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import (AuthenticationFailed, BadRequest, NotFound, PermissionDenied, RateLimited,
                                  UpstreamError, UpstreamTimeout, UpstreamUnavailable)
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.gemini import ADAPTER

CALL = Call(Endpoint.CHAT, "gemini-2.5-flash", {"model": "gemini/gemini-2.5-flash", "messages": []})


def parse(obj):
    return orjson.loads(ADAPTER.parse_response(CALL, {}, orjson.dumps(obj)))


def test_text_thoughts_and_usage():
    out = parse({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": True}, {"text": "Hello"}, {"text": ", world"}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 6,
                          "cachedContentTokenCount": 3, "totalTokenCount": 20},
        "modelVersion": "gemini-2.5-flash-001", "responseId": "abc",
    })
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["model"] == "gemini-2.5-flash"
    assert out["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello, world",
                                                       "reasoning_content": "Let me think."},
                               "finish_reason": "stop", "logprobs": None}]
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20,
                            "prompt_tokens_details": {"cached_tokens": 3},
                            "completion_tokens_details": {"reasoning_tokens": 6}}


def test_function_calls_become_tool_calls_with_unique_ids():
    out = parse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "now"}}]}, "finishReason": "STOP"}]})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"] for c in calls] == [{"name": "get_weather", "arguments": '{"city":"Zürich"}'},
                                              {"name": "now", "arguments": "{}"}]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert "extra_content" not in calls[1]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"].startswith("call_") for c in calls)
    assert out["usage"]["total_tokens"] == 0  # no usageMetadata: zeros, never a missing field


@pytest.mark.parametrize("reason,expected", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("OTHER", "stop"), ("MALFORMED_FUNCTION_CALL", "stop"),
])
def test_finish_reasons(reason, expected):
    out = parse({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]})
    assert out["choices"][0]["finish_reason"] == expected


def test_several_candidates_become_several_choices():
    out = parse({"candidates": [
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1}]})
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in out["choices"]] == [
        (0, "a", "stop"), (1, "b", "length")]


def test_safety_stop_without_content():
    out = parse({"candidates": [{"finishReason": "SAFETY", "index": 0}]})
    assert out["choices"][0]["message"] == {"role": "assistant", "content": None}
    assert out["choices"][0]["finish_reason"] == "content_filter"


def test_blocked_prompt_is_a_400_content_filter():
    with pytest.raises(BadRequest) as info:
        parse({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}})
    assert info.value.code == "content_filter" and "SAFETY" in info.value.message


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"candidates": []}', b'{"candidates": ["x"]}'])
def test_malformed_answers_are_upstream_errors(body):
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(CALL, {}, body)


def google_error(http, status, message="boom", details=()):
    return orjson.dumps({"error": {"code": http, "message": message, "status": status, "details": list(details)}})


@pytest.mark.parametrize("http,status,cls,out", [
    (400, "INVALID_ARGUMENT", BadRequest, 400),
    (401, "UNAUTHENTICATED", AuthenticationFailed, 401),
    (403, "PERMISSION_DENIED", PermissionDenied, 403),
    (404, "NOT_FOUND", NotFound, 404),
    (429, "RESOURCE_EXHAUSTED", RateLimited, 429),
    (503, "UNAVAILABLE", UpstreamUnavailable, 503),
    (500, "INTERNAL", UpstreamError, 502),
    (504, "DEADLINE_EXCEEDED", UpstreamTimeout, 504),
])
def test_error_statuses(http, status, cls, out):
    err = ADAPTER.parse_error(CALL, http, {}, google_error(http, status, "the message"))
    assert type(err) is cls and err.status == out
    assert err.message == "the message" and err.code == status


def test_rate_limit_retry_after_comes_from_retry_info():
    body = google_error(429, "RESOURCE_EXHAUSTED", details=[
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}])
    err = ADAPTER.parse_error(CALL, 429, {"Retry-After": "5"}, body)
    assert err.retry_after == 37.0 and err.headers() == {"Retry-After": "37"}
    assert err.retryable
    assert ADAPTER.parse_error(CALL, 429, {"Retry-After": "5"}, google_error(429, "RESOURCE_EXHAUSTED")).retry_after == 5


def test_invalid_api_key_is_an_authentication_failure():
    # what Gemini really answers for a wrong key: 400 INVALID_ARGUMENT with an ErrorInfo reason
    body = google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])
    err = ADAPTER.parse_error(CALL, 400, {}, body)
    assert type(err) is AuthenticationFailed and err.status == 401 and err.code == "invalid_api_key"


def test_non_google_error_bodies_map_by_http_status():
    err = ADAPTER.parse_error(CALL, 502, {}, b"<html>Bad gateway</html>")
    assert type(err) is UpstreamError and err.status == 502 and "502" in err.message
    listed = orjson.dumps([{"error": {"code": 404, "message": "no such model", "status": "NOT_FOUND"}}])
    assert ADAPTER.parse_error(CALL, 404, {}, listed).message == "no such model"
