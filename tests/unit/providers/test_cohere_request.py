"""OpenAI chat request -> Cohere v2 chat body, parameter by parameter."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.cohere import ADAPTER
from bifrost_proxy.providers.cohere.request import build_chat_body

USER = {"role": "user", "content": "hi"}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time"}}


def chat(stream: bool = False, **fields: Any) -> dict[str, Any]:
    body = {"model": "cohere/command-r-plus", "messages": [USER], **fields}
    return build_chat_body(Call(Endpoint.CHAT, "command-r-plus", body, stream=stream))


def provider(base_url: str = "https://api.cohere.com", **extra: Any) -> ProviderConfig:
    return ProviderConfig("cohere", "cohere", (), NetworkConfig(base_url=base_url, **extra))


def test_minimal_body_names_the_upstream_model_and_nothing_else() -> None:
    assert chat() == {"model": "command-r-plus", "messages": [{"role": "user", "content": "hi"}]}


def test_stream_flag_comes_from_the_call_and_gateway_fields_never_go_upstream() -> None:
    body = chat(stream=True, stream_options={"include_usage": True}, fallbacks=["openai/gpt-4o"])
    assert body["stream"] is True
    assert "stream_options" not in body and "fallbacks" not in body


def test_system_and_developer_messages_become_system_messages_in_place() -> None:
    body = build_chat_body(Call(Endpoint.CHAT, "m", {"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "use French"}]},
        {"role": "assistant", "content": "bonjour"},
        {"role": "user", "content": "again", "name": "bob"},
    ]}))
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "use French"}]},
        {"role": "assistant", "content": "bonjour"},
        {"role": "user", "content": "again"},
    ]


def test_user_images_become_image_url_parts() -> None:
    body = build_chat_body(Call(Endpoint.CHAT, "command-a-vision", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}]}))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]


@pytest.mark.parametrize("part", [
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    {"type": "file", "file": {"file_id": "f"}},
    {"type": "image_url", "image_url": {}},
])
def test_user_parts_cohere_cannot_take_are_rejected(part: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as info:
        build_chat_body(Call(Endpoint.CHAT, "m", {"messages": [{"role": "user", "content": [part]}]}))
    assert info.value.param.startswith("messages[0].content[0]")


def test_tool_round_trip_messages() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    body = build_chat_body(Call(Endpoint.CHAT, "m", {"messages": [
        USER,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "I will look it up.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
    ]}))
    assert body["messages"][1:] == [
        {"role": "assistant", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "assistant", "tool_calls": calls, "tool_plan": "I will look it up."},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
    ]


def test_tool_message_without_call_id_and_function_role_are_rejected() -> None:
    with pytest.raises(BadRequest) as info:
        build_chat_body(Call(Endpoint.CHAT, "m", {"messages": [USER, {"role": "tool", "content": "x"}]}))
    assert info.value.param == "messages[1].tool_call_id"
    with pytest.raises(BadRequest) as info:
        build_chat_body(Call(Endpoint.CHAT, "m", {"messages": [{"role": "function", "name": "f", "content": "x"}]}))
    assert info.value.param == "messages[0].role"


def test_sampling_parameters_are_renamed() -> None:
    body = chat(temperature=0.2, top_p=0.9, top_k=40, seed=7, frequency_penalty=0.1, presence_penalty=0.3,
                stop=["END", "STOP"], max_tokens=100)
    assert body["temperature"] == 0.2 and body["p"] == 0.9 and body["k"] == 40 and body["seed"] == 7
    assert body["frequency_penalty"] == 0.1 and body["presence_penalty"] == 0.3
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["max_tokens"] == 100
    assert "top_p" not in body and "stop" not in body


def test_stop_string_and_max_completion_tokens_wins() -> None:
    body = chat(stop="END", max_tokens=10, max_completion_tokens=50)
    assert body["stop_sequences"] == ["END"] and body["max_tokens"] == 50


@pytest.mark.parametrize("fields,param", [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": "many"}, "max_completion_tokens"),
    ({"stop": [1]}, "stop"),
    ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "response_format.json_schema.schema"),
])
def test_what_cohere_cannot_answer_is_a_400_naming_the_parameter(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        chat(**fields)
    assert info.value.param == param


def test_parameters_without_an_equivalent_are_dropped() -> None:
    body = chat(n=1, logprobs=False, top_logprobs=0, logit_bias={"1": 5}, parallel_tool_calls=False, user="u1",
                metadata={"a": "b"}, store=True, service_tier="auto", reasoning_effort="low",
                prediction={"type": "content", "content": "x"}, modalities=["text"], prompt_cache_key="k",
                safety_identifier="s", verbosity="low")
    assert body == {"model": "command-r-plus", "messages": [{"role": "user", "content": "hi"}]}


def test_tools_keep_openai_shape_and_get_default_parameters() -> None:
    body = chat(tools=[WEATHER, TIME])
    assert body["tools"] == [
        WEATHER,
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert "tool_choice" not in body and "strict_tools" not in body


@pytest.mark.parametrize("choice,expected", [("auto", None), ("none", "NONE"), ("required", "REQUIRED")])
def test_tool_choice_words(choice: str, expected: str | None) -> None:
    body = chat(tools=[WEATHER], tool_choice=choice)
    assert body.get("tool_choice") == expected


def test_tool_choice_by_name_offers_only_that_tool_and_requires_it() -> None:
    body = chat(tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [t["function"]["name"] for t in body["tools"]] == ["get_time"]
    assert body["tool_choice"] == "REQUIRED"


def test_tool_choice_without_tools_is_left_out() -> None:
    assert "tool_choice" not in chat(tool_choice="required")


def test_strict_function_turns_on_strict_tools() -> None:
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
    body = chat(tools=[TIME, strict])
    assert body["strict_tools"] is True
    assert "strict" not in body["tools"][1]["function"]


def test_deprecated_functions_are_tools() -> None:
    body = chat(functions=[WEATHER["function"]], function_call={"name": "get_weather"})
    assert body["tools"] == [WEATHER] and body["tool_choice"] == "REQUIRED"


@pytest.mark.parametrize("fmt,expected", [
    ({"type": "text"}, None),
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                             "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
     {"type": "json_object", "json_schema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
])
def test_response_format(fmt: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert chat(response_format=fmt).get("response_format") == expected


def test_build_request_posts_to_v2_chat_with_bearer_key() -> None:
    call = Call(Endpoint.CHAT, "command-r", {"model": "cohere/command-r", "messages": [USER]}, stream=True)
    key = KeyConfig("primary", "co-secret-value")
    req = ADAPTER.build_request(call, provider(extra_headers={"X-Client-Name": "tests"}), key)
    assert req.method == "POST" and req.url == "https://api.cohere.com/v2/chat"
    assert req.headers["Authorization"] == "Bearer co-secret-value"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Accept"] == "text/event-stream"
    assert req.headers["X-Client-Name"] == "tests"
    assert orjson.loads(req.body) == {"model": "command-r", "messages": [USER], "stream": True}
    assert "co-secret-value" not in repr(key)


@pytest.mark.parametrize("base,url", [
    ("http://127.0.0.1:9999/", "http://127.0.0.1:9999/v2/embed"),
    ("https://proxy.example.com/cohere/v2", "https://proxy.example.com/cohere/v2/embed"),
    ("", "https://api.cohere.com/v2/embed"),
])
def test_base_urls(base: str, url: str) -> None:
    call = Call(Endpoint.EMBEDDINGS, "embed-v4.0", {"input": "x"})
    assert ADAPTER.build_request(call, provider(base), KeyConfig("k", "v")).url == url


def test_supports_chat_and_embeddings_only() -> None:
    assert [e for e in Endpoint if ADAPTER.supports(e)] == [Endpoint.CHAT, Endpoint.EMBEDDINGS]


def test_validate_base_url() -> None:
    assert ADAPTER.validate(provider()) == []
    assert ADAPTER.validate(provider("ftp://x")) == ["network_config.base_url: must start with http:// or https://"]
