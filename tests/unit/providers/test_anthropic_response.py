"""Anthropic answers and error answers -> OpenAI completions and the gateway's error tree."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import (AuthenticationFailed, BadRequest, NotFound, PermissionDenied, RateLimited,
                                  UpstreamError, UpstreamUnavailable)
from bifrost_proxy.providers.anthropic import ADAPTER, error_from_event, parse_message
from bifrost_proxy.providers.base import Call, Endpoint
from tests.fakes.recording import recording


def call(**body: Any) -> Call:
    return Call(Endpoint.CHAT, "claude-requested", {"model": "anthropic/claude-requested", "messages": [], **body})


def message(*content: dict[str, Any], stop_reason: str = "end_turn", usage: dict | None = None) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-answered",
            "content": list(content), "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage or {"input_tokens": 3, "output_tokens": 4}}


def test_recorded_text_message():
    text_call = call()
    out = orjson.loads(ADAPTER.parse_response(text_call, {}, recording("anthropic_message.json")))
    assert text_call.usage == out["usage"]  # for the access log and metrics
    assert isinstance(out.pop("created"), int)
    assert out == {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "object": "chat.completion", "model": "claude-3-7-sonnet-20250219",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi! My name is Claude."},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }


def test_recorded_tool_use_message():
    out = orjson.loads(ADAPTER.parse_response(call(), {}, recording("anthropic_tool_use.json")))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["id"] == "toolu_01A09q90qw90lq917835lq9" and tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "get_weather"
    assert orjson.loads(tool_call["function"]["arguments"]) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert out["usage"]["total_tokens"] == 0  # the docs' sample has no usage: zeros, not a crash


def test_tool_calls_only_means_null_content_and_thinking_is_reasoning_content():
    out = parse_message(call(), message(
        {"type": "thinking", "thinking": "Let me think", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xxx"},
        {"type": "tool_use", "id": "t1", "name": "a", "input": {}},
        {"type": "tool_use", "id": "t2", "name": "b", "input": {"x": [1, "é"]}},
        stop_reason="tool_use"), created=5)
    msg = out["choices"][0]["message"]
    assert msg["content"] is None and msg["reasoning_content"] == "Let me think"
    assert [(t["id"], t["function"]["arguments"]) for t in msg["tool_calls"]] == [
        ("t1", "{}"), ("t2", '{"x":[1,"é"]}')]
    assert out["created"] == 5 and out["model"] == "claude-answered"


def test_usage_counts_cached_input_in_the_prompt():
    out = parse_message(call(), message({"type": "text", "text": "x"}, usage={
        "input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 1000,
        "output_tokens": 7}))
    assert out["usage"] == {"prompt_tokens": 1110, "completion_tokens": 7, "total_tokens": 1117,
                            "prompt_tokens_details": {"cached_tokens": 100}}


@pytest.mark.parametrize("stop_reason, finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("pause_turn", "stop"), (None, "stop"), ("something_new", "stop"),
])
def test_finish_reasons(stop_reason, finish):
    out = parse_message(call(), message({"type": "text", "text": "x"}, stop_reason=stop_reason))
    assert out["choices"][0]["finish_reason"] == finish


def test_json_response_tool_comes_back_as_content():
    out = parse_message(call(response_format={"type": "json_object"}), message(
        {"type": "tool_use", "id": "t", "name": "json_response", "input": {"answer": 42}}, stop_reason="tool_use"))
    choice = out["choices"][0]
    assert choice == {"index": 0, "message": {"role": "assistant", "content": '{"answer":42}'},
                      "logprobs": None, "finish_reason": "stop"}


def test_a_tool_named_json_response_is_a_tool_call_without_response_format():
    out = parse_message(call(), message({"type": "tool_use", "id": "t", "name": "json_response", "input": {}},
                                        stop_reason="tool_use"))
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "json_response"


@pytest.mark.parametrize("body", [b"{not json", b'{"type": "message"}', b"[]"])
def test_malformed_answers_are_upstream_errors(body):
    with pytest.raises(UpstreamError) as info:
        ADAPTER.parse_response(call(), {}, body)
    assert info.value.status == 502


# -- error answers ------------------------------------------------------------------------------------


def error_body(etype: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_1"})


@pytest.mark.parametrize("status, etype, cls, out_status, out_type", [
    (400, "invalid_request_error", BadRequest, 400, "invalid_request_error"),
    (401, "authentication_error", AuthenticationFailed, 401, "authentication_error"),
    (403, "permission_error", PermissionDenied, 403, "permission_error"),
    (404, "not_found_error", NotFound, 404, "not_found_error"),
    (413, "request_too_large", None, 413, "request_too_large"),
    (429, "rate_limit_error", RateLimited, 429, "rate_limit_error"),
    (500, "api_error", UpstreamUnavailable, 500, "api_error"),
    (529, "overloaded_error", UpstreamUnavailable, 503, "api_error"),
])
def test_error_statuses(status, etype, cls, out_status, out_type):
    err = ADAPTER.parse_error(call(), status, {}, error_body(etype, "what went wrong"))
    if cls is not None:
        assert isinstance(err, cls)
    assert (err.status, err.type, err.message) == (out_status, out_type, "what went wrong")
    assert err.retryable == (status in (429, 500, 529))


def test_overloaded_keeps_anthropics_type_as_code():
    err = ADAPTER.parse_error(call(), 529, {}, error_body("overloaded_error", "Overloaded"))
    assert err.to_dict() == {"error": {"message": "Overloaded", "type": "api_error", "code": "overloaded_error",
                                       "param": None}}


def test_recorded_error_body():
    err = ADAPTER.parse_error(call(), 404, {}, recording("anthropic_error.json"))
    assert isinstance(err, NotFound) and err.message == "The requested resource could not be found."


def test_retry_after_is_passed_on():
    err = ADAPTER.parse_error(call(), 429, {"Retry-After": "17"}, error_body("rate_limit_error", "slow down"))
    assert err.retry_after == 17 and err.headers() == {"Retry-After": "17"}
    assert ADAPTER.parse_error(call(), 429, {}, error_body("rate_limit_error", "x")).retry_after is None


def test_a_body_that_is_not_anthropics_is_mapped_by_status():
    err = ADAPTER.parse_error(call(), 413, {}, b"<html>Request Entity Too Large</html>")
    assert (err.status, err.message) == (413, "the upstream answered HTTP 413")
    assert ADAPTER.parse_error(call(), 502, {}, b"").status == 502


@pytest.mark.parametrize("etype, status, retryable", [
    ("overloaded_error", 503, True),
    ("rate_limit_error", 429, True),
    ("api_error", 502, True),
    ("brand_new_error", 502, True),
    ("invalid_request_error", 400, False),
])
def test_stream_error_events(etype, status, retryable):
    err = error_from_event({"type": "error", "error": {"type": etype, "message": "boom"}})
    assert (err.status, err.retryable, err.message) == (status, retryable, "boom")
