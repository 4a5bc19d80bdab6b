"""OpenAI chat completions -> Anthropic Messages: blocks, stop reasons, usage and malformed answers."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.inbound.anthropic.response import to_message
from bifrost_proxy.inbound.anthropic.tool_ids import openai_tool_id
from bifrost_proxy.providers.base import Call, Endpoint
from tests.fakes.recording import recording


def call(**body: Any) -> Call:
    return Call(Endpoint.CHAT, "gpt-4o-mini", {"model": "openai/gpt-4o-mini", "messages": [], **body})


def completion(message: dict[str, Any], finish: str | None = "stop", **choice: Any) -> bytes:
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                         "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                      "finish_reason": finish, **choice}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})


def test_the_recorded_completion():
    message = orjson.loads(to_message(call(), recording("openai_chat_completion.json")))
    assert message == {"id": "chatcmpl-AXl2NONSTREAM", "type": "message", "role": "assistant",
                       "model": "gpt-4o-mini-2024-07-18",
                       "content": [{"type": "text", "text": "Once upon a time, in Zürich 🐉."}],
                       "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": 12, "output_tokens": 9, "cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": 0}}


def test_reasoning_text_and_tool_calls_in_anthropics_order():
    answer = completion({"content": "Let me check.", "reasoning_content": "Weather needs a tool.",
                         "tool_calls": [{"id": "call_1", "type": "function", "function": {
                             "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                             {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""},
                              "extra_content": {"google": {"thought_signature": "c2ln"}}}]}, "tool_calls")
    message = orjson.loads(to_message(call(), answer))
    assert message["content"][:3] == [
        {"type": "thinking", "thinking": "Weather needs a tool.", "signature": ""},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]
    assert message["content"][3]["input"] == {}
    assert openai_tool_id(message["content"][3]["id"]) == ("call_2", {"google": {"thought_signature": "c2ln"}})
    assert message["stop_reason"] == "tool_use"


@pytest.mark.parametrize("finish, extra, reason, sequence", [
    ("stop", {}, "end_turn", None),
    ("length", {}, "max_tokens", None),
    ("tool_calls", {}, "tool_use", None),
    ("content_filter", {}, "refusal", None),
    (None, {}, "end_turn", None),
    ("stop", {"stop_reason": "END"}, "stop_sequence", "END"),  # vLLM names the stop string it met
    ("stop", {"stop_reason": "OTHER"}, "end_turn", None),
    ("stop", {"stop_reason": 128001}, "end_turn", None),  # vLLM: a stop token id
])
def test_stop_reasons(finish, extra, reason, sequence):
    message = orjson.loads(to_message(call(stop=["END"]), completion({"content": "x"}, finish, **extra)))
    assert (message["stop_reason"], message["stop_sequence"]) == (reason, sequence)


def test_a_provider_that_says_stop_with_tool_calls_still_says_tool_use():
    answer = completion({"content": None, "tool_calls": [{"id": "c", "type": "function",
                                                          "function": {"name": "f", "arguments": "{}"}}]}, "stop")
    assert orjson.loads(to_message(call(), answer))["stop_reason"] == "tool_use"


def test_cached_input_is_counted_apart_and_refusals_are_text():
    answer = orjson.dumps({"id": "x", "model": "m", "choices": [{"message": {"content": None, "refusal": "No."},
                                                                   "finish_reason": "content_filter"}],
                           "usage": {"prompt_tokens": 100, "completion_tokens": 2,
                                     "prompt_tokens_details": {"cached_tokens": 60}}})
    message = orjson.loads(to_message(call(), answer))
    assert message["content"] == [{"type": "text", "text": "No."}] and message["stop_reason"] == "refusal"
    assert message["usage"] == {"input_tokens": 40, "output_tokens": 2, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 60}


def test_a_missing_id_gets_one():
    answer = orjson.dumps({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]})
    message = orjson.loads(to_message(call(), answer))
    assert message["id"].startswith("msg_") and message["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"choices": []}', b'{"choices": [{"message": "hi"}]}',
    completion({"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{broken"}}]}),
    completion({"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1, 2]"}}]}),
    completion({"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}),
])
def test_malformed_answers_are_upstream_errors(body):
    with pytest.raises(UpstreamError) as info:
        to_message(call(), body)
    assert info.value.code == "malformed_upstream_response" and info.value.status == 502
