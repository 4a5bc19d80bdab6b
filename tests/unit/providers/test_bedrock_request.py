"""OpenAI chat request -> Converse request body."""
from __future__ import annotations

import pytest

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.bedrock.request import converse_body

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def body(model: str = CLAUDE, **fields) -> dict:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return converse_body(Call(Endpoint.CHAT, model, {"model": f"bedrock/{model}", **fields}))


def test_plain_text_message_and_nothing_else():
    assert body() == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_system_and_developer_messages_become_system_blocks_in_order():
    out = body(messages=[{"role": "system", "content": "be brief"},
                         {"role": "developer", "content": [{"type": "text", "text": "use French"}]},
                         {"role": "user", "content": "hi"}])
    assert out["system"] == [{"text": "be brief"}, {"text": "use French"}]
    assert out["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_text_and_base64_image_parts():
    out = body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}", "detail": "low"}}]}])
    assert out["messages"][0]["content"] == [
        {"text": "what is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"image": {"format": "jpeg", "source": {"bytes": PNG}}}]


def test_http_image_url_is_refused_naming_the_field():
    with pytest.raises(BadRequest) as err:
        body(messages=[{"role": "user", "content": [
            {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
    assert err.value.status == 400
    assert err.value.param == "messages[0].content[1].image_url.url"
    assert err.value.code == "unsupported_parameter" and "cannot fetch" in err.value.message


@pytest.mark.parametrize("url, code", [("data:image/tiff;base64,AAAA", "unsupported_parameter"),
                                       ("data:text/plain;base64,AA", "unsupported_parameter"),
                                       ("data:image/png,AAAA", None)])
def test_unsupported_or_malformed_data_urls_are_refused(url, code):
    with pytest.raises(BadRequest) as err:
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert (err.value.param, err.value.code) == ("messages[0].content[0].image_url.url", code)


def test_other_content_parts_are_refused():
    with pytest.raises(BadRequest) as err:
        body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])
    assert (err.value.param, err.value.code) == ("messages[0].content[0]", "unsupported_parameter")


def test_tools_and_tool_choice():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}},
             {"type": "function", "function": {"name": "now"}}]
    out = body(tools=tools)
    assert out["toolConfig"] == {"tools": [
        {"toolSpec": {"name": "get_weather", "description": "Weather in a city",
                      "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}},
        {"toolSpec": {"name": "now", "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
        "toolChoice": {"auto": {}}}
    assert body(tools=tools, tool_choice="required")["toolConfig"]["toolChoice"] == {"any": {}}
    named = {"type": "function", "function": {"name": "now"}}
    assert body(tools=tools, tool_choice=named)["toolConfig"]["toolChoice"] == {"tool": {"name": "now"}}
    assert "toolConfig" not in body(tools=tools, tool_choice="none")
    with pytest.raises(BadRequest) as err:
        body(tools=tools, tool_choice="sometimes")
    assert err.value.param == "tool_choice"
    with pytest.raises(BadRequest) as err:
        body(tools=[{"type": "code_interpreter"}])
    assert (err.value.param, err.value.code) == ("tools[0].type", "unsupported_parameter")
    out = body(functions=[{"name": "now"}], function_call={"name": "now"})
    assert out["toolConfig"]["toolChoice"] == {"tool": {"name": "now"}}
    assert out["toolConfig"]["tools"][0]["toolSpec"]["name"] == "now"


def test_assistant_tool_calls_and_tool_results_round_trip():
    out = body(messages=[
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "t2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "18C"},
        {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "thanks"}])
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {"city": "Rome"}}}]},
        # tool results and the next user message merge into one user turn: Converse wants turns alternating
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "25C"}]}},
            {"text": "thanks"}]}]


def test_assistant_with_only_tool_calls_and_null_content():
    out = body(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}]}])
    assert out["messages"][1] == {"role": "assistant",
                                  "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]}


def test_bad_tool_call_arguments_are_refused():
    with pytest.raises(BadRequest) as err:
        body(messages=[{"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}]}])
    assert err.value.param == "messages[0].tool_calls[0].function.arguments"


def test_inference_config():
    out = body(max_tokens=100, temperature=0.2, top_p=0.9, stop="END")
    assert out["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert body(max_completion_tokens=50, max_tokens=100, stop=["a", "b"])["inferenceConfig"] == {
        "maxTokens": 50, "stopSequences": ["a", "b"]}


def test_reasoning_effort_turns_on_thinking_for_anthropic_models():
    out = body(reasoning_effort="medium", max_tokens=8000)
    assert out["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert out["inferenceConfig"]["maxTokens"] == 8000
    out = body(reasoning_effort="high")
    assert out["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 16384
    assert out["inferenceConfig"]["maxTokens"] == 16384 + 4096
    # budget kept below max_tokens
    assert body(reasoning_effort="high", max_tokens=3000)["additionalModelRequestFields"]["thinking"][
        "budget_tokens"] == 2999
    with pytest.raises(BadRequest) as err:
        body(reasoning_effort="low", max_tokens=1000)
    assert err.value.param == "reasoning_effort"


def test_reasoning_effort_is_dropped_elsewhere():
    out = body("meta.llama3-8b-instruct-v1:0", reasoning_effort="high")
    assert "additionalModelRequestFields" not in out and "inferenceConfig" not in out
    assert "additionalModelRequestFields" not in body(reasoning_effort="minimal")


def test_sampling_and_bookkeeping_params_are_dropped():
    out = body(frequency_penalty=0.5, presence_penalty=0.1, seed=3, user="u1", logit_bias={"1": 2},
               parallel_tool_calls=False, store=True, metadata={"a": "b"}, stream=True,
               stream_options={"include_usage": True}, fallbacks=["x/y"], n=1, response_format={"type": "text"},
               top_k=5, prediction={"type": "content", "content": "x"}, service_tier="auto", verbosity="low",
               prompt_cache_key="k", safety_identifier="s", logprobs=False, modalities=["text"])
    assert out == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize("fields,param", [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"web_search_options": {}}, "web_search_options"),
])
def test_shape_changing_params_are_refused(fields, param):
    with pytest.raises(BadRequest) as err:
        body(**fields)
    assert err.value.param == param and err.value.status == 400
    assert err.value.code == "unsupported_parameter"


@pytest.mark.parametrize("messages,param", [
    ([], "messages"),
    ("hi", "messages"),
    ([{"role": "function", "content": "x"}], "messages[0].role"),
    ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id"),
    ([{"role": "user", "content": 5}], "messages[0].content"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}],
     "messages[0].content[0]"),
])
def test_malformed_messages_name_the_field(messages, param):
    with pytest.raises(BadRequest) as err:
        body(messages=messages)
    assert err.value.param == param


def test_empty_turns_are_skipped():
    out = body(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
                         {"role": "user", "content": "b"}])
    assert out["messages"] == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]
