"""OpenAI chat.completion -> Gemini GenerateContentResponse, and Google's error shape."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import BadRequest, GatewayError, RateLimited, UpstreamError, UpstreamTimeout
from bifrost_proxy.inbound.genai.errors import error_event, error_object
from bifrost_proxy.inbound.genai.response import to_gemini, usage_metadata
from bifrost_proxy.providers.gemini.errors import parse_google_error
from tests.fakes.recording import recording

COMPLETION = recording("openai_chat_completion.json")


def completion(message, finish="stop", **extra):
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                      "finish_reason": finish}], **extra})


def test_the_recorded_completion():
    out = orjson.loads(to_gemini(COMPLETION, False))
    assert out == {
        "candidates": [{"content": {"parts": [{"text": "Once upon a time, in Zürich 🐉."}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21},
        "modelVersion": "gpt-4o-mini-2024-07-18", "responseId": "chatcmpl-AXl2NONSTREAM"}


def test_tool_calls_become_function_call_parts_with_their_ids():
    out = orjson.loads(to_gemini(completion({"content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Bern"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}]}, "tool_calls"),
        False))
    [cand] = out["candidates"]
    assert cand["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Bern"}, "id": "call_1"}},
        {"functionCall": {"name": "get_time", "args": {}, "id": "call_2"}}]
    assert cand["finishReason"] == "STOP"


def test_arguments_that_are_not_an_object_make_a_malformed_function_call():
    out = orjson.loads(to_gemini(completion({"content": "Sure.", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"cut'}}]}, "tool_calls"), False))
    [cand] = out["candidates"]
    assert cand["finishReason"] == "MALFORMED_FUNCTION_CALL" and cand["content"]["parts"] == [{"text": "Sure."}]


@pytest.mark.parametrize("include, parts", [
    (True, [{"text": "Let me think.", "thought": True}, {"text": "42"}]),
    (False, [{"text": "42"}]),
])
def test_reasoning_is_a_thought_part_only_when_the_client_asked(include, parts):
    out = orjson.loads(to_gemini(completion({"content": "42", "reasoning_content": "Let me think."}), include))
    assert out["candidates"][0]["content"]["parts"] == parts


@pytest.mark.parametrize("finish, reason", [("length", "MAX_TOKENS"), ("content_filter", "SAFETY"),
                                            (None, "STOP"), ("something_new", "OTHER")])
def test_finish_reasons(finish, reason):
    out = orjson.loads(to_gemini(completion({"content": ""}, finish), False))
    assert out["candidates"][0]["finishReason"] == reason
    assert out["candidates"][0]["content"]["parts"] == [{"text": ""}]


def test_usage_with_reasoning_and_cached_tokens():
    assert usage_metadata({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                           "prompt_tokens_details": {"cached_tokens": 64},
                           "completion_tokens_details": {"reasoning_tokens": 30}}) == {
        "promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 150, "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 64}
    assert usage_metadata(None) is None


def test_a_malformed_completion_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        to_gemini(b'{"choices": 3}', False)


def test_error_shape_follows_the_documented_sample():
    sample = orjson.loads(recording("gemini_error.json"))
    ours = error_object(BadRequest("contents must be a non-empty list", param="contents"))
    assert ours["error"].keys() == sample["error"].keys()
    assert ours["error"]["code"] == 400 and ours["error"]["status"] == "INVALID_ARGUMENT"
    assert {d["@type"] for d in ours["error"]["details"]} == {
        "type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"}
    violation = ours["error"]["details"][1]["fieldViolations"][0]
    assert violation == {"field": "contents", "description": "contents must be a non-empty list"}


@pytest.mark.parametrize("error, status, name", [
    (RateLimited("slow down", retry_after=3.2), 429, "RESOURCE_EXHAUSTED"),
    (UpstreamTimeout("no first byte"), 504, "DEADLINE_EXCEEDED"),
    (UpstreamError("reset"), 502, "UNAVAILABLE"),
    (GatewayError("budget spent", status=402, code="budget_exceeded"), 402, "RESOURCE_EXHAUSTED"),
    (GatewayError("odd", status=418), 418, "INVALID_ARGUMENT"),
])
def test_statuses_and_names(error, status, name):
    body = error_object(error)["error"]
    assert (body["code"], body["status"]) == (status, name)
    if error.retry_after is not None:
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"} in body["details"]


def test_a_google_upstreams_own_status_name_is_kept():
    upstream = parse_google_error(400, {}, orjson.dumps({"error": {
        "code": 400, "message": "User location is not supported", "status": "FAILED_PRECONDITION"}}))
    body = error_object(upstream)["error"]
    assert (body["code"], body["status"], body["message"]) == (400, "FAILED_PRECONDITION",
                                                               "User location is not supported")


def test_the_stream_error_event_is_one_gemini_event():
    frame = error_event(UpstreamError("the upstream reset the connection", code="upstream_reset"))
    assert frame.startswith(b"data: {\"error\":") and frame.endswith(b"\r\n\r\n") and frame.count(b"\r\n") == 2
    assert orjson.loads(frame[6:])["error"]["details"][0]["reason"] == "UPSTREAM_RESET"
