"""Responses requests: shape checks, and their translation to OpenAI chat bodies (pure, no sockets)."""
from __future__ import annotations

import pytest

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.responses.request import check_request, to_chat_body

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": True}


def chat(**native) -> dict:
    native = {"model": "anthropic/claude", **native}
    check_request(native)
    return to_chat_body(native, "anthropic")


def refused(**native) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        chat(**native)
    return caught.value


def test_a_string_input_is_one_user_message_after_the_instructions():
    assert chat(input="Hi", instructions="Be brief.")["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def test_message_items_and_their_parts():
    messages = chat(input=[
        {"role": "developer", "content": [{"type": "input_text", "text": "Rule one."},
                                          {"type": "input_text", "text": "Rule two."}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Look:"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "I see ", "annotations": []},
                     {"type": "output_text", "text": "a cat.", "annotations": []}]},
    ])["messages"]
    assert messages == [
        {"role": "system", "content": "Rule one.\nRule two."},
        {"role": "user", "content": [
            {"type": "text", "text": "Look:"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}}]},
        {"role": "assistant", "content": "I see a cat."}]


def test_function_calls_join_the_assistant_turn_and_outputs_become_tool_messages():
    messages = chat(input=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA..."},
        {"type": "message", "role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "rain, "}, {"type": "input_text", "text": "12 C"}]},
        {"type": "function_call", "call_id": "call_3", "name": "get_weather", "arguments": "{}"},
    ])["messages"]
    assert messages == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain, 12 C"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}]


def test_tools_choice_format_and_scalars():
    body = chat(input="Hi", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"},
                parallel_tool_calls=False, text={"format": {"type": "json_object"}, "verbosity": "low"},
                reasoning={"effort": "high", "summary": "auto"}, max_output_tokens=300, top_p=0.5, user="u-1",
                prompt_cache_key="k", service_tier="flex", metadata={"a": "b"}, truncation="auto", store=False,
                include=["reasoning.encrypted_content"], stream_options={"include_obfuscation": False})
    assert body == {
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                                    "parameters": WEATHER["parameters"], "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False,
        "response_format": {"type": "json_object"}, "reasoning_effort": "high",
        "max_completion_tokens": 300, "top_p": 0.5, "user": "u-1"}


def test_tool_settings_without_tools_are_not_sent():
    # chat completions refuses tool_choice and parallel_tool_calls without tools
    assert chat(input="Hi", tool_choice="none", parallel_tool_calls=True) == {
        "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize("native, param", [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"conversation": {"id": "conv_1"}}, "conversation"),
    ({"store": True}, "store"),
    ({"background": True}, "background"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"include": ["message.output_text.logprobs"]}, "include"),
    ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0]"),
    ({"tools": [WEATHER], "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    ({"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
     "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]},
     "input[0].content[0].file_url"),
    ({"input": [{"type": "function_call_output", "call_id": "c",
                 "output": [{"type": "input_image", "image_url": "https://x/a.png"}]}]}, "input[0].output[0]"),
])
def test_what_only_a_responses_upstream_serves_is_a_400_naming_it(native, param):
    error = refused(**{"input": "Hi", **native})
    assert (error.status, error.param, error.code) == (400, param, "responses_api_only")
    assert "'anthropic'" in error.message and "options.responses_api: native" in error.message


@pytest.mark.parametrize("native, param", [
    ({"model": ""}, "model"),
    ({"model": 5}, "model"),
    ({"input": {"role": "user"}}, "input"),
    ({"input": [7]}, "input[0]"),
    ({"max_output_tokens": True}, "max_output_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": False}, "temperature"),
    ({"tools": [{"type": 5}]}, "tools[0]"),
    ({"include": [1]}, "include"),
    ({"fallbacks": ["anthropic/x", 2]}, "fallbacks"),
    ({"instructions": ["a"]}, "instructions"),
    ({"previous_response_id": 9}, "previous_response_id"),
])
def test_check_request_names_the_field_of_the_wrong_shape(native, param):
    with pytest.raises(BadRequest) as caught:
        check_request({"model": "openai/gpt-4o", "input": "Hi", **native})
    assert caught.value.param == param and caught.value.code is None


@pytest.mark.parametrize("native, param", [
    ({}, "input"),
    ({"input": []}, "input"),
    ({"input": [{"content": "no role or type"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": 3}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
    ({"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]},
     "input[0].content[0]"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"input": "Hi", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "Hi", "tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"input": "Hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
    ({"input": "Hi", "reasoning": {"effort": 3}}, "reasoning.effort"),
])
def test_untranslatable_shapes_are_a_plain_400(native, param):
    error = refused(**native)
    assert error.param == param and error.code is None


def test_check_request_says_whether_to_stream():
    assert check_request({"model": "m", "stream": True}) is True
    assert check_request({"model": "m"}) is False
