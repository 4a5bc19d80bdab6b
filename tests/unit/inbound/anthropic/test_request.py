"""Anthropic Messages requests -> OpenAI chat bodies: what is checked, mapped, dropped and refused."""
from __future__ import annotations

from typing import Any

import pytest

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.anthropic.request import check_request, to_openai
from bifrost_proxy.inbound.anthropic.tool_ids import anthropic_tool_id

MODEL = "openai/gpt-4o-mini"
HELLO = [{"role": "user", "content": "Hi"}]
PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": HELLO, **fields}


def translate(**fields: Any) -> dict[str, Any]:
    body = request(**fields)
    check_request(body)
    return to_openai(body, MODEL)


@pytest.mark.parametrize("body, param", [
    ({"max_tokens": 1, "messages": HELLO}, "model"),
    ({"model": "  ", "max_tokens": 1, "messages": HELLO}, "model"),
    ({"model": "m", "messages": HELLO}, "max_tokens"),
    ({"model": "m", "max_tokens": True, "messages": HELLO}, "max_tokens"),
    ({"model": "m", "max_tokens": -1, "messages": HELLO}, "max_tokens"),
    ({"model": "m", "max_tokens": 1, "messages": "hi"}, "messages"),
    ({"model": "m", "max_tokens": 1, "messages": [None]}, "messages[0].role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user"}]}, "messages[0].content"),
    ({"model": "m", "max_tokens": 1, "messages": HELLO, "stream": 1}, "stream"),
    ({"model": "m", "max_tokens": 1, "messages": HELLO, "system": 5}, "system"),
])
def test_check_names_the_field(body, param):
    with pytest.raises(BadRequest) as info:
        check_request(body)
    assert info.value.param == param and param.split("[")[0] in info.value.message


def test_count_tokens_needs_no_max_tokens():
    body = {"model": "m", "messages": HELLO}
    check_request(body, counting=True)
    with pytest.raises(BadRequest, match="max_tokens"):
        check_request(body)


def test_parameters_are_mapped_dropped_or_kept():
    body = translate(system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                             {"type": "text", "text": "Be kind."}],
                     temperature=0.5, top_p=0.9, top_k=5, stop_sequences=["END"], stream=True,
                     metadata={"user_id": "u1", "other": 1}, thinking={"type": "enabled", "budget_tokens": 2048},
                     service_tier="auto", cache_control={"type": "ephemeral"}, some_new_field=1)
    assert body == {"model": MODEL, "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stop": ["END"],
                    "stream": True, "user": "u1", "messages": [{"role": "system", "content": "Be brief.\n\nBe kind."},
                                                               {"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize("choice, expected", [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "get"}, {"tool_choice": {"type": "function", "function": {"name": "get"}}}),
    ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    (None, {}),
])
def test_tools_and_tool_choice(choice, expected):
    tool = {"name": "get", "description": "Get it", "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"}}
    body = translate(tools=[tool, {"type": "custom", "name": "put", "input_schema": {"type": "object"}}],
                     tool_choice=choice)
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get", "description": "Get it", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "put", "parameters": {"type": "object"}}}]
    assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected


def test_tool_choice_without_tools_is_left_out():
    assert "tool_choice" not in translate(tools=[], tool_choice={"type": "any"})


def test_output_format_becomes_a_json_schema_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    for fields in ({"output_config": {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}},
                   {"output_format": {"type": "json_schema", "schema": schema}}):
        assert translate(**fields)["response_format"] == {"type": "json_schema",
                                                          "json_schema": {"name": "output", "schema": schema}}
    assert "response_format" not in translate(output_config={"effort": "high"})


def test_a_tool_conversation_with_images_in_results():
    pixel = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    messages = [
        {"role": "user", "content": "Look at the screen"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should look.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "abc"},
            {"type": "text", "text": "Taking a screenshot."},
            {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}},
            {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {"path": "a.txt"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "Here it is"}, {"type": "image", "source": pixel}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "file text", "is_error": False},
            {"type": "text", "text": "What do you see?"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "only thoughts", "signature": "s"}]},
    ]
    assert translate(messages=messages)["messages"] == [
        {"role": "user", "content": "Look at the screen"},
        {"role": "assistant", "content": "Taking a screenshot.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a.txt\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Here it is"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "file text"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                                     {"type": "text", "text": "What do you see?"}]},
    ]


def test_a_thought_signature_hidden_in_a_tool_id_goes_back_to_the_provider():
    tool_id = anthropic_tool_id("call_7", {"google": {"thought_signature": "CiQB+/0="}})
    messages = [HELLO[0], {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "f",
                                                             "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id}]}]
    out = translate(messages=messages)["messages"]
    assert out[1]["tool_calls"][0]["id"] == "call_7"
    assert out[1]["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "CiQB+/0="}}
    assert out[2] == {"role": "tool", "tool_call_id": "call_7", "content": ""}


def test_documents_and_search_results():
    content = [
        {"type": "document", "source": PDF, "title": "report.pdf", "cache_control": {"type": "ephemeral"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk 1"}]}},
        {"type": "search_result", "source": "https://example.com", "title": "Example",
         "content": [{"type": "text", "text": "found text"}]},
    ]
    assert translate(messages=[{"role": "user", "content": content}])["messages"][0]["content"] == [
        {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}},
        {"type": "text", "text": "plain notes"},
        {"type": "text", "text": "chunk 1"},
        {"type": "text", "text": "Example - https://example.com\n\nfound text"},
    ]


@pytest.mark.parametrize("fields, param", [
    ({"mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}]}, "mcp_servers"),
    ({"container": "container_1"}, "container"),
    ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
    ({"messages": [{"role": "assistant", "content": [{"type": "server_tool_use", "id": "srvtoolu_1",
                                                      "name": "web_search", "input": {}}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "messages[0].content[0].source.type"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "u"}}]}]},
     "messages[0].content[0].source.type"),
    ({"messages": [{"role": "user", "content": [{"type": "container_upload", "file_id": "f"}]}]},
     "messages[0].content[0]"),
])
def test_what_only_anthropic_can_do_is_refused_naming_it(fields, param):
    with pytest.raises(BadRequest) as info:
        translate(**fields)
    assert info.value.code == "unsupported_parameter" and info.value.param == param
    assert param in info.value.message


@pytest.mark.parametrize("content, param", [
    ([{"type": "text"}], "messages[0].content[0].text"),
    ([{"type": "image", "source": {"type": "base64", "data": "x"}}], "messages[0].content[0].source.media_type"),
    ([{"type": "image"}], "messages[0].content[0].source"),
    ([{"type": "document", "source": {**PDF, "media_type": "text/html"}}], "messages[0].content[0].source.media_type"),
    ([{"type": "document", "source": {"type": "content", "content": [{"type": "document", "source": PDF}]}}],
     "messages[0].content[0].source.content[0]"),
    ([{"type": "tool_result"}], "messages[0].content[0].tool_use_id"),
    ([{"type": "tool_result", "tool_use_id": "t", "content": 5}], "messages[0].content[0].content"),
    ([7], "messages[0].content[0]"),
])
def test_malformed_blocks_name_the_field(content, param):
    with pytest.raises(BadRequest) as info:
        translate(messages=[{"role": "user", "content": content}])
    assert info.value.param == param and info.value.code is None


@pytest.mark.parametrize("block, param", [
    ({"type": "tool_use", "name": "f", "input": {}}, "messages[0].content[0].id"),
    ({"type": "tool_use", "id": "t", "input": {}}, "messages[0].content[0].name"),
    ({"type": "tool_use", "id": "t", "name": "f", "input": [1]}, "messages[0].content[0].input"),
])
def test_malformed_tool_use_names_the_field(block, param):
    with pytest.raises(BadRequest) as info:
        translate(messages=[{"role": "assistant", "content": [block]}])
    assert info.value.param == param


@pytest.mark.parametrize("fields, param", [
    ({"temperature": "hot"}, "temperature"),
    ({"stop_sequences": "END"}, "stop_sequences"),
    ({"tools": {"name": "x"}}, "tools"),
    ({"tools": ["x"]}, "tools[0]"),
    ({"tools": [{"input_schema": {}}]}, "tools[0].name"),
    ({"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
    ({"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"output_format": {"type": "json_object"}}, "output_format"),
    ({"system": [{"type": "image"}]}, "system[0]"),
])
def test_malformed_parameters_name_the_field(fields, param):
    with pytest.raises(BadRequest) as info:
        translate(**fields)
    assert info.value.param == param
