"""OpenAI chat request -> Anthropic Messages request: URL, headers, and every parameter's translation."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import orjson
import pytest

from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.anthropic import ADAPTER, build_messages_body, default_max_tokens
from bifrost_proxy.providers.base import Call, Endpoint

KEY = KeyConfig(name="primary", value="sk-ant-test-5ecret")
USER = {"role": "user", "content": "Hi"}


def provider(base_url: str = "https://api.anthropic.com", options: dict[str, Any] | None = None,
             extra_headers: dict[str, str] | None = None) -> ProviderConfig:
    network = NetworkConfig(base_url=base_url, extra_headers=MappingProxyType(extra_headers or {}))
    return ProviderConfig(name="anthropic", type="anthropic", keys=(KEY,), network=network,
                          options=MappingProxyType(options or {}))


def call(stream: bool = False, model: str = "claude-3-5-haiku-latest", **body: Any) -> Call:
    body.setdefault("messages", [USER])
    return Call(Endpoint.CHAT, model, {"model": "anthropic/" + model, **body}, stream=stream)


def body_of(**kwargs: Any) -> dict[str, Any]:
    return build_messages_body(call(**kwargs))


def bad_param(**kwargs: Any) -> str | None:
    with pytest.raises(BadRequest) as info:
        body_of(**kwargs)
    assert info.value.status == 400
    return info.value.param


# -- the HTTP request ---------------------------------------------------------------------------------


def test_request_goes_to_messages_with_anthropic_headers():
    req = ADAPTER.build_request(call(fallbacks=["openai/gpt-4o"]), provider(), KEY)
    assert (req.method, req.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert req.headers == {"anthropic-version": "2023-06-01", "Content-Type": "application/json",
                           "x-api-key": "sk-ant-test-5ecret"}
    body = orjson.loads(req.body)
    assert body["model"] == "claude-3-5-haiku-latest"  # the upstream name, never "anthropic/..."
    assert "fallbacks" not in body and "stream" not in body


def test_version_option_extra_headers_and_versioned_base_url():
    prov = provider("http://127.0.0.1:9/v1/", {"anthropic_version": "2024-01-01"},
                    {"anthropic-beta": "prompt-caching-2024-07-31", "X-API-KEY": "not-this", "content-type": "x"})
    req = ADAPTER.build_request(call(), prov, KEY)
    assert req.url == "http://127.0.0.1:9/v1/messages"
    assert req.headers == {"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2024-01-01",
                           "Content-Type": "application/json", "x-api-key": "sk-ant-test-5ecret"}


def test_extra_header_may_set_the_version():
    req = ADAPTER.build_request(call(), provider(extra_headers={"Anthropic-Version": "2099-01-01"}), KEY)
    assert req.headers["Anthropic-Version"] == "2099-01-01" and "anthropic-version" not in req.headers


def test_stream_flag_is_sent():
    assert body_of(stream=True, stream_options={"include_usage": True})["stream"] is True
    assert "stream_options" not in body_of(stream=True, stream_options={"include_usage": True})


def test_chat_is_the_only_endpoint():
    assert [e for e in Endpoint if ADAPTER.supports(e)] == [Endpoint.CHAT]


@pytest.mark.parametrize("options, base_url, problem", [
    ({"anthropic_version": 20230601}, "https://x", "options.anthropic_version"),
    ({"anthropic_version": " "}, "https://x", "options.anthropic_version"),
    ({"default_max_tokens": 0}, "https://x", "options.default_max_tokens"),
    ({"default_max_tokens": "4096"}, "https://x", "options.default_max_tokens"),
    ({}, "", "network_config.base_url"),
])
def test_validate_names_bad_options(options, base_url, problem):
    problems = ADAPTER.validate(provider(base_url, options))
    assert len(problems) == 1 and problems[0].startswith(problem + ":")


def test_validate_accepts_good_options():
    assert ADAPTER.validate(provider(options={"anthropic_version": "2023-06-01", "default_max_tokens": 1000})) == []


# -- messages -----------------------------------------------------------------------------------------


def test_system_and_developer_messages_go_to_system_in_order():
    body = body_of(messages=[
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        {"role": "assistant", "content": "Salut"},
    ])
    assert body["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                {"role": "assistant", "content": [{"type": "text", "text": "Salut"}]}]


def test_no_system_key_without_system_messages():
    assert "system" not in body_of()


def test_consecutive_same_role_messages_are_merged():
    body = body_of(messages=[USER, {"role": "user", "content": "again"}, {"role": "assistant", "content": "a"},
                             {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in body["messages"]] == [
        ("user", ["Hi", "again"]), ("assistant", ["a", "b"]), ("user", ["c"])]


def test_tool_calls_and_tool_results_round_trip():
    body = body_of(messages=[
        USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "Thanks"},
    ])
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"type": "text", "text": "Thanks"}]}


def test_tool_results_come_first_in_a_merged_user_turn():
    body = body_of(messages=[
        {"role": "assistant", "content": "x", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "note"},
        {"role": "tool", "tool_call_id": "c", "content": "done"},
    ])
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_result", "text"]


def test_images_by_url_and_by_data_url():
    body = body_of(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    ]}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    ]


def test_pdf_file_becomes_a_document_and_cache_control_is_kept():
    body = body_of(messages=[{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "Summarise", "cache_control": {"type": "ephemeral"}},
    ]}])
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "text", "text": "Summarise", "cache_control": {"type": "ephemeral"}},
    ]


@pytest.mark.parametrize("part, param", [
    ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "messages[0].content[1].image_url.url"),
    ({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}, "messages[0].content[1].image_url.url"),
    ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "messages[0].content[1]"),
    ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[1].file"),
    ({"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}, "messages[0].content[1].file.file_data"),
    ({"type": "video"}, "messages[0].content[1]"),
    ({"type": "text", "text": 5}, "messages[0].content[1].text"),
])
def test_unsupported_content_is_a_400_naming_the_field(part, param):
    assert bad_param(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, part]}]) == param


@pytest.mark.parametrize("messages, param", [
    ([], "messages"),
    ([{"role": "system", "content": "only a system prompt"}], "messages"),
    ([USER, {"role": "function", "name": "f", "content": "x"}], "messages[1].role"),
    ([USER, {"role": "tool", "content": "x"}], "messages[1].tool_call_id"),
    ([USER, {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}],
     "messages[1].tool_calls[0].function.arguments"),
    ([USER, {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}],
     "messages[1].tool_calls[0].function.arguments"),
])
def test_bad_history_is_a_400_naming_the_field(messages, param):
    assert bad_param(messages=messages) == param


def test_empty_text_is_dropped_and_so_is_an_empty_turn():
    body = body_of(messages=[USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "more"}])
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                             {"type": "text", "text": "more"}]}]


# -- parameters ---------------------------------------------------------------------------------------


def test_sampling_parameters_and_stop():
    body = body_of(temperature=0.2, top_p=0.9, top_k=5, stop="END")
    assert (body["temperature"], body["top_p"], body["top_k"], body["stop_sequences"]) == (0.2, 0.9, 5, ["END"])
    assert body_of(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert "stop_sequences" not in body_of(stop=None)
    assert bad_param(stop=5) == "stop"


@pytest.mark.parametrize("model, expected", [
    ("claude-3-haiku-20240307", 4096),
    ("claude-3-opus-latest", 4096),
    ("claude-3-5-sonnet-20241022", 8192),
    ("claude-3-5-haiku@20241022", 8192),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", 8192),
    ("claude-3-7-sonnet-20250219", 32000),
    ("claude-sonnet-4-20250514", 32000),
    ("claude-opus-4-1-20250805", 32000),
    ("claude-haiku-4-5", 32000),
    ("claude-2.1", 4096),
    ("my-finetune", 4096),
])
def test_default_max_tokens_table(model, expected):
    assert default_max_tokens(model) == expected
    assert body_of(model=model)["max_tokens"] == expected


def test_max_tokens_from_the_client_and_the_option():
    assert body_of(max_tokens=100)["max_tokens"] == 100
    assert body_of(max_tokens=100, max_completion_tokens=50)["max_tokens"] == 50
    assert build_messages_body(call(), default_max=777)["max_tokens"] == 777
    req = ADAPTER.build_request(call(), provider(options={"default_max_tokens": 1234}), KEY)
    assert orjson.loads(req.body)["max_tokens"] == 1234
    assert bad_param(max_tokens=0) == "max_tokens"
    assert bad_param(max_completion_tokens="10") == "max_completion_tokens"


@pytest.mark.parametrize("kwargs, param", [
    ({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"), ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"web_search_options": {}}, "web_search_options"),
])
def test_parameters_that_change_the_answer_are_refused(kwargs, param):
    with pytest.raises(BadRequest) as info:
        body_of(**kwargs)
    assert (info.value.param, info.value.code) == (param, "unsupported_parameter")


def test_tuning_and_labelling_parameters_are_dropped():
    body = body_of(n=1, logprobs=False, top_logprobs=0, presence_penalty=0.5, frequency_penalty=0.5, seed=7,
                   logit_bias={"1": 2}, service_tier="auto", store=True, metadata={"a": "b"}, modalities=["text"],
                   prediction={"type": "content", "content": "x"}, prompt_cache_key="k", safety_identifier="s",
                   verbosity="low", user="user-42")
    assert set(body) == {"model", "max_tokens", "messages", "metadata"}
    assert body["metadata"] == {"user_id": "user-42"}


# -- tools --------------------------------------------------------------------------------------------

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_tools_become_input_schemas():
    body = body_of(tools=[WEATHER, {"type": "function", "function": {"name": "now"}}])
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice, expected):
    assert body_of(tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_use():
    assert body_of(tools=[WEATHER], parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto", "disable_parallel_tool_use": True}
    assert body_of(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)["tool_choice"] == {
        "type": "any", "disable_parallel_tool_use": True}


def test_deprecated_functions_are_tools_too():
    body = body_of(functions=[WEATHER["function"]], function_call={"name": "get_weather"})
    assert body["tools"][0]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}


@pytest.mark.parametrize("kwargs, param", [
    ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
])
def test_bad_tools_are_a_400(kwargs, param):
    assert bad_param(**kwargs) == param


def test_tool_choice_without_tools_is_not_sent():
    assert "tool_choice" not in body_of(tool_choice="auto")


# -- response_format ----------------------------------------------------------------------------------


def test_json_schema_becomes_a_forced_tool():
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    body = body_of(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    assert body["tools"] == [{"name": "json_response", "description": "Answer with a JSON object that matches "
                              "the schema.", "input_schema": schema}]
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_json_object_becomes_a_forced_tool_for_any_object():
    body = body_of(response_format={"type": "json_object"})
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_text_response_format_changes_nothing():
    assert "tools" not in body_of(response_format={"type": "text"})


@pytest.mark.parametrize("kwargs, param", [
    ({"response_format": {"type": "json_object"}, "tools": [WEATHER]}, "response_format"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}}, "response_format.json_schema.schema"),
])
def test_bad_response_format_is_a_400(kwargs, param):
    assert bad_param(**kwargs) == param


# -- reasoning ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("effort, budget", [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 16384)])
def test_reasoning_effort_turns_thinking_on(effort, budget):
    body = body_of(model="claude-3-7-sonnet-latest", reasoning_effort=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 32000  # the model default already leaves room for the answer


def test_reasoning_raises_a_small_default_max_tokens():
    body = body_of(model="unknown-model", reasoning_effort="high")
    assert body["max_tokens"] == 16384 + 4096 and body["max_tokens"] > body["thinking"]["budget_tokens"]


def test_reasoning_budget_fits_inside_the_clients_limit():
    body = body_of(reasoning_effort="high", max_completion_tokens=5000)
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (5000, 4999)
    assert bad_param(reasoning_effort="low", max_tokens=1024) == "max_tokens"


def test_reasoning_none_and_bad_values():
    assert "thinking" not in body_of(reasoning_effort="none")
    assert bad_param(reasoning_effort="extreme") == "reasoning_effort"


def test_anthropic_thinking_passes_through_without_reasoning_effort():
    assert body_of(thinking={"type": "enabled", "budget_tokens": 2000})["thinking"] == {
        "type": "enabled", "budget_tokens": 2000}
