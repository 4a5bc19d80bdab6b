"""Chat completions -> Response objects, and usage both ways (pure)."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.inbound.responses.response import chat_usage, responses_usage, translate_completion
from bifrost_proxy.providers.base import Call, Endpoint
from tests.fakes.recording import recording

NATIVE = {"model": "anthropic/claude", "input": "Hi", "instructions": "Be brief.", "temperature": 0.3,
          "tools": [{"type": "function", "name": "f"}], "metadata": {"k": "v"}}


def call(native: dict | None = None) -> Call:
    return Call(Endpoint.CHAT, "claude", {}, native_body=NATIVE if native is None else native)


def completion(message: dict, finish: str = "stop", usage: dict | None = None) -> bytes:
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1732555300, "model": "claude-x",
                         "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                      "finish_reason": finish}], "usage": usage})


def test_the_recorded_completion_as_a_response():
    answer = orjson.loads(translate_completion(call(), recording("openai_chat_completion.json")))
    assert answer["id"].startswith("resp_") and answer["object"] == "response"
    assert (answer["created_at"], answer["model"], answer["status"]) == (1732555300, "gpt-4o-mini-2024-07-18",
                                                                          "completed")
    (message,) = answer["output"]
    assert message == {"id": message["id"], "type": "message", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                    "text": "Once upon a time, in Zürich 🐉."}]}
    assert message["id"].startswith("msg_")
    assert answer["usage"] == {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 9,
                               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 21}
    # the request's settings are echoed as OpenAI echoes them
    assert (answer["instructions"], answer["temperature"], answer["tools"], answer["metadata"]) == \
        ("Be brief.", 0.3, NATIVE["tools"], {"k": "v"})
    assert (answer["store"], answer["tool_choice"], answer["text"], answer["error"]) == \
        (False, "auto", {"format": {"type": "text"}}, None)


def test_reasoning_text_refusal_and_tool_calls_become_items_in_order():
    body = completion({"reasoning_content": "Think.", "content": "Sure.", "refusal": "Not that part.",
                       "tool_calls": [{"id": "call_1", "type": "function",
                                       "function": {"name": "f", "arguments": '{"a":1}'}}]}, "tool_calls")
    output = orjson.loads(translate_completion(call(), body))["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call"]
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "Think."}] and output[0]["summary"] == []
    assert output[1]["content"][1] == {"type": "refusal", "refusal": "Not that part."}
    assert {k: output[2][k] for k in ("call_id", "name", "arguments", "status")} == \
        {"call_id": "call_1", "name": "f", "arguments": '{"a":1}', "status": "completed"}
    ids = [item["id"] for item in output]
    assert [i.split("_")[0] for i in ids] == ["rs", "msg", "fc"] and len(set(ids)) == 3


@pytest.mark.parametrize("finish, reason", [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_a_cut_answer_is_incomplete(finish, reason):
    answer = orjson.loads(translate_completion(call(), completion({"content": "Once upon"}, finish)))
    assert answer["status"] == "incomplete" and answer["incomplete_details"] == {"reason": reason}
    assert answer["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"choices": []}', b'{"choices": [7]}', b"[]"])
def test_a_malformed_completion_is_an_upstream_error(body):
    with pytest.raises(UpstreamError) as caught:
        translate_completion(call(), body)
    assert caught.value.code == "malformed_upstream_response"


def test_usage_both_ways():
    chat = {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 12}}
    native = responses_usage(chat)
    assert native == {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 40,
                      "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 140}
    assert chat_usage(native) == chat
    assert responses_usage(None) is None and chat_usage("garbage") is None
    assert chat_usage({"input_tokens": 3, "output_tokens": 4}) == {"prompt_tokens": 3, "completion_tokens": 4,
                                                                    "total_tokens": 7}


def test_an_odd_finish_reason_is_not_a_crash():
    body = orjson.dumps({"choices": [{"message": {"content": "x"}, "finish_reason": {"odd": 1}}]})
    assert orjson.loads(translate_completion(call(), body))["status"] == "completed"
