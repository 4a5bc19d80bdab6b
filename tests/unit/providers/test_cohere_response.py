"""Cohere v2 chat answers -> OpenAI chat.completion, and Cohere errors -> the gateway's error tree."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import (AuthenticationFailed, BadRequest, PermissionDenied, RateLimited, UpstreamError,
                                  UpstreamTimeout, UpstreamUnavailable)
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.cohere import ADAPTER
from tests.fakes.recording import recording

CALL = Call(Endpoint.CHAT, "command-a-03-2025", {"model": "cohere/command-a-03-2025", "messages": []})


def parse(answer: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = answer if isinstance(answer, bytes) else orjson.dumps(answer)
    return orjson.loads(ADAPTER.parse_response(CALL, {"Content-Type": "application/json"}, raw))


def answer(finish: str = "COMPLETE", **message: Any) -> dict[str, Any]:
    return {"id": "abc", "finish_reason": finish, "message": {"role": "assistant", **message},
            "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 4},
                      "tokens": {"input_tokens": 70, "output_tokens": 4}}}


def test_recorded_text_answer() -> None:
    out = parse(recording("cohere_chat_response.json"))
    assert out["id"] == "chatcmpl-c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert out["object"] == "chat.completion" and isinstance(out["created"], int)
    assert out["model"] == "command-a-03-2025"
    choice = out["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant" and "tool_calls" not in choice["message"]
    assert choice["message"]["content"].startswith("LLMs stand for Large Language Models")
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 418, "total_tokens": 423}


def test_recorded_tool_call_answer() -> None:
    out = parse(recording("cohere_chat_tools_response.json"))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None  # the thinking block is left out
    assert choice["message"]["tool_calls"] == [
        {"id": "query_daily_sales_report_hgxxmkby3wta", "type": "function",
         "function": {"name": "query_daily_sales_report", "arguments": '{"day": "2023-09-29"}'}},
        {"id": "query_product_catalog_rpg0z5h8yyz2", "type": "function",
         "function": {"name": "query_product_catalog", "arguments": '{"category": "Electronics"}'}},
    ]
    assert out["usage"] == {"prompt_tokens": 127, "completion_tokens": 69, "total_tokens": 196}


def test_tool_plan_is_the_content_of_a_tool_call_answer() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    out = parse(answer("TOOL_CALL", tool_plan="I will call f.", tool_calls=calls))
    assert out["choices"][0]["message"]["content"] == "I will call f."
    assert out["choices"][0]["message"]["tool_calls"] == calls


def test_text_parts_are_joined() -> None:
    out = parse(answer(content=[{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "x"},
                                {"type": "text", "text": "b"}], citations=[{"start": 0, "end": 1}]))
    assert out["choices"][0]["message"]["content"] == "ab"


@pytest.mark.parametrize("reason,expected", [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"),
                                             ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")])
def test_finish_reasons(reason: str, expected: str) -> None:
    assert parse(answer(reason, content=[]))["choices"][0]["finish_reason"] == expected


def test_finish_reason_error_and_timeout_raise() -> None:
    with pytest.raises(UpstreamError):
        parse(answer("ERROR", content=[]))
    with pytest.raises(UpstreamTimeout):
        parse(answer("TIMEOUT", content=[]))


def test_usage_falls_back_to_tokens_and_reports_cached_tokens() -> None:
    obj = answer(content=[])
    obj["usage"] = {"tokens": {"input_tokens": 70.0, "output_tokens": 4.0}, "cached_tokens": 64}
    assert parse(obj)["usage"] == {"prompt_tokens": 70, "completion_tokens": 4, "total_tokens": 74,
                                   "prompt_tokens_details": {"cached_tokens": 64}}
    del obj["usage"]
    assert parse(obj)["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"[]", b'{"id": "x"}'])
def test_malformed_answers_are_upstream_errors(raw: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        parse(raw)
    assert info.value.status == 502


@pytest.mark.parametrize("status,cls,retryable", [
    (400, BadRequest, False), (422, BadRequest, False), (401, AuthenticationFailed, False),
    (403, PermissionDenied, False), (429, RateLimited, True), (500, UpstreamUnavailable, True),
    (503, UpstreamUnavailable, True), (502, UpstreamError, True), (504, UpstreamTimeout, True),
])
def test_error_statuses(status: int, cls: type, retryable: bool) -> None:
    body = orjson.dumps({"id": "e1", "message": f"cohere says {status}"})
    err = ADAPTER.parse_error(CALL, status, {}, body)
    assert type(err) is cls and err.status == status and err.retryable is retryable
    assert err.message == f"cohere says {status}"


def test_rate_limit_passes_retry_after_on() -> None:
    err = ADAPTER.parse_error(CALL, 429, {"Retry-After": "7"}, b'{"message": "trial key limit"}')
    assert isinstance(err, RateLimited) and err.retry_after == 7.0 and err.headers() == {"Retry-After": "7"}


def test_error_without_a_cohere_body() -> None:
    err = ADAPTER.parse_error(CALL, 502, {}, b"<html><body>Bad Gateway</body></html>")
    assert err.message == "the upstream answered HTTP 502" and err.status == 502
    err = ADAPTER.parse_error(CALL, 400, {}, b"")
    assert err.message == "the upstream answered HTTP 400"


def test_cohere_only_statuses_keep_their_status() -> None:
    err = ADAPTER.parse_error(CALL, 498, {}, b'{"message": "blocked token"}')
    assert err.status == 498 and err.message == "blocked token" and not err.retryable
