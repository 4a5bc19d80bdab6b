"""OpenAI chat request -> Gemini GenerateContentRequest: every translation and every refusal."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.gemini import ADAPTER
from bifrost_proxy.providers.gemini.request import SUPPORTED, build_generate_body
from bifrost_proxy.providers.params import DROPPED, REJECTED


def body_for(**fields):
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return build_generate_body(Call(Endpoint.CHAT, "gemini-2.5-flash", {"model": "gemini/gemini-2.5-flash", **fields}))


def provider(**network):
    config = parse_config({"providers": {"gemini": {"keys": [{"name": "k1", "value": "AIza-secret"}],
                                                     "network_config": network}}})
    return config.providers["gemini"]


def test_plain_text_user_message():
    assert body_for() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_system_and_developer_messages_join_into_system_instruction():
    out = body_for(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
    ])
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert out["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_multi_turn_assistant_becomes_model():
    out = body_for(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": [{"type": "text", "text": "how are you?"}]},
    ])
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]
    assert out["contents"][1]["parts"] == [{"text": "hello!"}]


def test_images_data_url_and_http_url():
    out = body_for(messages=[{"role": "user", "content": [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
    ]}])
    assert out["contents"][0]["parts"] == [
        {"text": "compare"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=2"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
    ]


def test_audio_and_file_parts_become_inline_data():
    out = body_for(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
    ]}])
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


@pytest.mark.parametrize("url", ["data:image/png,notbase64", "ftp://example.com/a.png", ""])
def test_bad_image_urls_are_rejected(url):
    with pytest.raises(BadRequest) as info:
        body_for(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert info.value.param == "messages[0].content[0]"


def test_tools_and_tool_choice():
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    out = body_for(tools=[
        {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": params}},
        {"type": "function", "function": {"name": "now"}},
    ], tool_choice="required")
    assert out["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather now", "parametersJsonSchema": params},
        {"name": "now"},
    ]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
def test_tool_choice_modes(choice, expected):
    assert body_for(tool_choice=choice)["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.parametrize("tools", [[{"type": "custom", "custom": {"name": "x"}}], [{"type": "function"}], "x"])
def test_non_function_tools_are_rejected(tools):
    with pytest.raises(BadRequest):
        body_for(tools=tools)


def test_tool_call_round_trip_uses_the_function_name_of_the_earlier_call():
    out = body_for(messages=[
        {"role": "user", "content": "weather and time in Zurich?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Zurich"}'},
             "extra_content": {"google": {"thought_signature": "c2ln"}}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        {"role": "user", "content": "thanks"},
    ])
    assert out["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Zurich"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "get_time", "args": {}}},
    ]}
    # both answers of one model turn in one user turn, in order
    assert out["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
    ]}
    assert out["contents"][3] == {"role": "user", "parts": [{"text": "thanks"}]}


def test_tool_result_without_a_matching_call_is_rejected():
    with pytest.raises(BadRequest) as info:
        body_for(messages=[{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}])
    assert info.value.param == "messages[1].tool_call_id"
    assert "nope" in info.value.message


def test_tool_call_arguments_must_be_a_json_object():
    with pytest.raises(BadRequest):
        body_for(messages=[{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2"}}]}])


def test_generation_config():
    out = body_for(temperature=0.2, top_p=0.9, stop="END", max_tokens=100, n=2, seed=7,
                   presence_penalty=0.5, frequency_penalty=-0.5)
    assert out["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
        "candidateCount": 2, "maxOutputTokens": 100, "stopSequences": ["END"],
    }


def test_max_completion_tokens_wins_over_max_tokens_and_stop_lists_pass():
    out = body_for(max_tokens=100, max_completion_tokens=50, stop=["a", "b"])
    assert out["generationConfig"] == {"maxOutputTokens": 50, "stopSequences": ["a", "b"]}


@pytest.mark.parametrize("stop", [{"a": 1}, ["a", 2], 5])
def test_bad_stop_values_are_rejected(stop):
    with pytest.raises(BadRequest) as info:
        body_for(stop=stop)
    assert info.value.param == "stop"


def test_response_formats():
    assert "generationConfig" not in body_for(response_format={"type": "text"})
    assert body_for(response_format={"type": "json_object"})["generationConfig"] == {
        "responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = body_for(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
    assert out["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    with pytest.raises(BadRequest):
        body_for(response_format={"type": "yaml"})


@pytest.mark.parametrize("effort,budget,thoughts", [("none", 0, False), ("low", 1024, True), ("medium", 8192, True),
                                                     ("high", 24576, True)])
def test_reasoning_effort_becomes_a_thinking_budget(effort, budget, thoughts):
    out = body_for(reasoning_effort=effort)
    assert out["generationConfig"]["thinkingConfig"] == {"thinkingBudget": budget, "includeThoughts": thoughts}


def test_unknown_reasoning_effort_is_rejected():
    with pytest.raises(BadRequest):
        body_for(reasoning_effort="extreme")


@pytest.mark.parametrize("name", sorted(REJECTED - SUPPORTED))
def test_parameters_that_would_change_the_answer_are_rejected(name):
    value = {"logprobs": True, "top_logprobs": 2, "audio": {"voice": "x"}, "modalities": ["text", "audio"],
             "web_search_options": {}}[name]
    with pytest.raises(BadRequest) as info:
        body_for(**{name: value})
    assert info.value.param == name and info.value.code == "unsupported_parameter"


def test_non_function_tools_and_unreadable_parts_are_rejected():
    with pytest.raises(BadRequest) as info:
        body_for(tools=[{"type": "custom", "custom": {"name": "grammar"}}])
    assert (info.value.param, info.value.code) == ("tools[0].type", "unsupported_parameter")
    with pytest.raises(BadRequest) as info:
        body_for(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}])
    assert (info.value.param, info.value.code) == ("messages[0].content[0].file", "unsupported_parameter")
    with pytest.raises(BadRequest) as info:
        body_for(messages=[{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}])
    assert (info.value.param, info.value.code) == ("messages[0].content[0]", "unsupported_parameter")


def test_text_modalities_are_fine():
    assert body_for(modalities=["text"]) == body_for()


def test_tuning_and_label_parameters_are_dropped():
    values = {name: "x" for name in DROPPED if name not in ("seed", "presence_penalty", "frequency_penalty",
                                                             "reasoning_effort")}
    values.update(parallel_tool_calls=False, stream_options={"include_usage": True}, metadata={"a": "b"},
                  logit_bias={"1": 5}, logprobs=False, top_logprobs=0, fallbacks=["openai/gpt-4o"], stream=True)
    assert body_for(**values) == body_for()


def test_deprecated_functions_are_tools():
    out = body_for(functions=[{"name": "f", "parameters": {"type": "object"}}], function_call={"name": "f"})
    assert out["tools"] == [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}


def test_top_k_extension_becomes_top_k():
    assert body_for(top_k=40)["generationConfig"] == {"topK": 40}


def test_build_request_urls_and_headers():
    p = provider()
    key = p.keys[0]
    call = Call(Endpoint.CHAT, "gemini-2.5-flash", {"messages": [{"role": "user", "content": "hi"}]})
    req = ADAPTER.build_request(call, p, key)
    assert req.method == "POST"
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "AIza-secret"
    assert req.headers["Content-Type"] == "application/json"
    assert "model" not in orjson.loads(req.body)
    call.stream = True
    assert ADAPTER.build_request(call, p, key).url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_build_request_respects_a_versioned_base_url_and_tuned_models():
    p = provider(base_url="http://127.0.0.1:9/proxy/v1", extra_headers={"X-Team": "a"})
    call = Call(Endpoint.CHAT, "tunedModels/my-model", {"messages": [{"role": "user", "content": "hi"}]})
    req = ADAPTER.build_request(call, p, p.keys[0])
    assert req.url == "http://127.0.0.1:9/proxy/v1/tunedModels/my-model:generateContent"
    assert req.headers["X-Team"] == "a"


def test_supports_chat_and_embeddings_only():
    assert [e for e in Endpoint if ADAPTER.supports(e)] == [Endpoint.CHAT, Endpoint.EMBEDDINGS]


def test_validate_checks_the_api_version_option():
    assert ADAPTER.validate(provider()) == []
    with pytest.raises(Exception) as info:
        parse_config({"providers": {"gemini": {"keys": [{"name": "k", "value": "v"}], "options": {"api_version": "x"}}}})
    assert "providers.gemini.options.api_version" in str(info.value)
