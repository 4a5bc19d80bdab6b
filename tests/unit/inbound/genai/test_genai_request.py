"""Gemini GenerateContentRequest -> OpenAI chat body: pure functions, no I/O."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.genai.request import include_thoughts, to_openai

MODEL = "openai/gpt-4o-mini"


def body(**fields):
    return {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}], **fields}


def test_text_turns_system_instruction_and_the_model_are_translated():
    out = to_openai({"contents": [{"parts": [{"text": "Hi"}]},  # role defaults to user
                                  {"role": "model", "parts": [{"text": "Hello"}, {"text": " there"}]},
                                  {"role": "user", "parts": [{"text": "A "}, {"text": "poem"}]}],
                     "systemInstruction": {"parts": [{"text": "Be "}, {"text": "brief."}]}}, MODEL, True)
    assert out.body == {"model": MODEL, "stream": True, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there"},
        {"role": "user", "content": "A poem"}]}
    assert out.gemini_only.found == []


def test_system_instruction_may_be_a_string_and_snake_case_names_are_read():
    out = to_openai(body(system_instruction="Be brief.", generation_config={"max_output_tokens": 50,
                                                                             "top_p": 0.5}), MODEL, False)
    assert out.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out.body["max_completion_tokens"] == 50 and out.body["top_p"] == 0.5


def test_generation_config_maps_to_openai_parameters():
    out = to_openai(body(generationConfig={
        "temperature": 0.2, "topP": 0.9, "topK": 40, "candidateCount": 2, "maxOutputTokens": 100,
        "stopSequences": ["END"], "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.3,
        "responseModalities": ["TEXT"], "mediaResolution": "MEDIA_RESOLUTION_LOW"},
        safetySettings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]), MODEL, False)
    b = out.body
    assert (b["temperature"], b["top_p"], b["top_k"], b["n"], b["max_completion_tokens"]) == (0.2, 0.9, 40, 2, 100)
    assert (b["stop"], b["seed"], b["presence_penalty"], b["frequency_penalty"]) == (["END"], 7, 0.1, 0.3)
    assert "safetySettings" not in b and out.gemini_only.found == []


@pytest.mark.parametrize("config, expected", [
    ({"responseMimeType": "application/json"}, {"type": "json_object"}),
    ({"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
     {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}}),
    ({"responseMimeType": "application/json", "responseSchema": {
        "type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": True}}, "propertyOrdering": ["n"]}},
     {"type": "json_schema", "json_schema": {"name": "response", "schema": {
         "type": "object", "properties": {"n": {"type": ["integer", "null"]}}}}}),
    ({"responseMimeType": "text/plain"}, None),
])
def test_response_format(config, expected):
    assert to_openai(body(generationConfig=config), MODEL, False).body.get("response_format") == expected


@pytest.mark.parametrize("thinking, effort", [
    ({"thinkingBudget": 512}, "low"), ({"thinkingBudget": 4096}, "medium"), ({"thinking_budget": 20000}, "high"),
    ({"thinkingBudget": 0}, None), ({"thinkingBudget": -1}, None), ({"thinkingLevel": "HIGH"}, "high"),
    ({"thinking_level": "low", "includeThoughts": True}, "low"),
])
def test_thinking_config_becomes_reasoning_effort(thinking, effort):
    request = body(generationConfig={"thinkingConfig": thinking})
    assert to_openai(request, MODEL, False).body.get("reasoning_effort") == effort


def test_include_thoughts_is_read_in_either_spelling():
    assert include_thoughts(body(generationConfig={"thinkingConfig": {"includeThoughts": True}}))
    assert include_thoughts(body(generation_config={"thinking_config": {"include_thoughts": True}}))
    assert not include_thoughts(body()) and not include_thoughts(None)


def test_function_declarations_and_tool_config():
    tools = [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather", "parameters": {
            "type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
        {"name": "get_time", "parameters_json_schema": {"type": "object", "properties": {}}}]}]
    out = to_openai(body(tools=tools, toolConfig={"functionCallingConfig": {"mode": "ANY"}}), MODEL, False)
    assert out.body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
    assert out.body["tool_choice"] == "required"
    one = to_openai(body(tools=tools, tool_config={"function_calling_config": {
        "mode": "any", "allowed_function_names": ["get_time"]}}), MODEL, False)
    assert one.body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert to_openai(body(tools=tools, toolConfig={"functionCallingConfig": {"mode": "NONE"}}),
                     MODEL, False).body["tool_choice"] == "none"


def test_function_calls_and_responses_pair_up_by_id_or_by_name():
    contents = [
        {"role": "user", "parts": [{"text": "Weather and time?"}]},
        {"role": "model", "parts": [{"text": "thinking", "thought": True},
                                    {"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}},
                                     "thoughtSignature": "c2ln"},
                                    {"functionCall": {"id": "abc", "name": "get_time", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "abc", "name": "get_time", "response": {"t": "9:00"}}},
                                   {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                                   {"text": "Thanks"}]}]
    messages = to_openai({"contents": contents}, MODEL, False).body["messages"]
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Zürich"}'}},
        {"id": "abc", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}
    assert messages[2:] == [{"role": "tool", "tool_call_id": "abc", "content": '{"t":"9:00"}'},
                            {"role": "tool", "tool_call_id": "call_1_1", "content": '{"temp":21}'},
                            {"role": "user", "content": "Thanks"}]


def test_media_parts():
    parts = [{"text": "What is this?"},
             {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
             {"file_data": {"mime_type": "image/jpeg", "file_uri": "https://example.com/cat.jpg"}},
             {"inline_data": {"mime_type": "audio/wav", "data": "UklG"}},
             {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]
    [message] = to_openai({"contents": [{"role": "user", "parts": parts}]}, MODEL, False).body["messages"]
    assert message["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"}}]


def test_gemini_only_features_are_collected_not_refused():
    request = {"contents": [{"role": "user", "parts": [
        {"text": "hi"}, {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}},
        {"executableCode": {"language": "PYTHON", "code": "1+1"}}]}],
        "tools": [{"googleSearch": {}}, {"codeExecution": {}}], "cachedContent": "cachedContents/abc",
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "responseLogprobs": True,
                             "responseMimeType": "text/x.enum"}}
    out = to_openai(request, MODEL, False)
    assert [p for p, _ in out.gemini_only.found] == [
        "contents[0].parts[1].inlineData", "contents[0].parts[2].executableCode", "cachedContent",
        "tools[0].googleSearch", "tools[1].codeExecution", "generationConfig.responseLogprobs",
        "generationConfig.responseModalities", "generationConfig.responseMimeType"]
    assert out.native is request  # nothing of the gateway's to take out: the client's object itself


def test_fallbacks_and_a_model_in_the_body_are_left_out_of_the_native_body():
    request = body(fallbacks=["gemini-2.5-pro"], model="models/gemini-2.5-flash")
    out = to_openai(request, MODEL, False)
    assert out.body["fallbacks"] == ["gemini-2.5-pro"] and out.body["model"] == MODEL  # the path's model
    assert out.native == {"contents": request["contents"]}
    assert request["fallbacks"] == ["gemini-2.5-pro"]  # the client's object is not changed


@pytest.mark.parametrize("request_body, param", [
    ({}, "contents"),
    ({"contents": []}, "contents"),
    ({"contents": ["hi"]}, "contents[0]"),
    ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "contents"),
    ({"contents": [{"role": "user"}]}, "contents[0].parts"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
     "contents[0].parts[0].functionResponse.name"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
     "contents[0].parts[0].functionCall.name"),
    ({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png"}}]}]},
     "contents[0].parts[0].inlineData"),
    (body(generationConfig={"temperature": "hot"}), "generationConfig.temperature"),
    (body(generationConfig={"maxOutputTokens": True}), "generationConfig.maxOutputTokens"),
    (body(generationConfig=[]), "generationConfig"),
    (body(tools={"functionDeclarations": []}), "tools"),
    (body(tools=[{"functionDeclarations": [{"description": "no name"}]}]),
     "tools[0].functionDeclarations[0].name"),
    (body(tools=[{"functionDeclarations": [{"name": "f"}]}],
          toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
     "toolConfig.functionCallingConfig.mode"),
    (body(systemInstruction=5), "systemInstruction"),
    (body(generationConfig={"stopSequences": ["END", 3]}), "generationConfig.stopSequences"),
    (body(tools=[{"functionDeclarations": [{"name": "f"}]}],
          toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": "f"}}),
     "toolConfig.functionCallingConfig.allowedFunctionNames"),
])
def test_bad_requests_name_the_field(request_body, param):
    with pytest.raises(BadRequest) as caught:
        to_openai(request_body, MODEL, False)
    assert caught.value.param == param and param in caught.value.message


def test_translation_output_is_json_serialisable():
    out = to_openai(body(generationConfig={"temperature": 1}), MODEL, True)
    assert orjson.loads(orjson.dumps(out.body)) == out.body
