"""OpenAI-shaped provider streams -> Gemini events, and Gemini streams passed through: recordings replayed
whole and split at every byte (inside UTF-8 characters too), cut, and broken."""
from __future__ import annotations

import pytest

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.inbound.base import DialectDecoder
from bifrost_proxy.inbound.genai.dialect import GENAI
from bifrost_proxy.inbound.genai.passthrough import NativeStreamDecoder
from bifrost_proxy.providers.anthropic import AnthropicStreamDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.openai import OpenAIStreamDecoder
from tests.fakes.genai_events import events, shape
from tests.fakes.recording import recording

THINKING = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}


def call(model="gpt-4o-mini", native=None) -> Call:
    return Call(Endpoint.CHAT, model, {"messages": [], "stream": True}, stream=True, dialect=GENAI,
                native_body=native or {"contents": []})


def translated(inner_cls, c: Call):
    return DialectDecoder(inner_cls(c), GENAI.stream_translator(c), GENAI)


def run(decoder, data: bytes, cuts=()) -> bytes:
    out, start = [], 0
    for cut in [*cuts, len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.finish()
    assert decoder.done
    return b"".join(out)


def test_openai_text_stream_becomes_gemini_events():
    c = call()
    raw = run(translated(OpenAIStreamDecoder, c), recording("openai_chat_stream.sse"))
    out = events(raw)
    # the role-only first chunk, the finish chunk and the usage chunk carry nothing a Gemini client reads
    assert [shape(e) for e in out] == ["text", "text", "text", "text", "finish=STOP usage"]
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in out)
    assert text == "Once upon a time, in Zürich 🐉."
    assert {(e["modelVersion"], e["responseId"]) for e in out} == {("gpt-4o-mini-2024-07-18", "chatcmpl-AXl0x2bd1")}
    assert out[-1]["usageMetadata"] == {"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 21}
    assert c.usage["total_tokens"] == 21


def test_split_at_every_byte_gives_the_same_events():
    data = recording("openai_chat_stream.sse")
    whole = run(translated(OpenAIStreamDecoder, call()), data)
    for cut in range(1, len(data)):
        assert run(translated(OpenAIStreamDecoder, call()), data, [cut]) == whole, cut


def test_tool_call_pieces_become_one_function_call():
    raw = run(translated(OpenAIStreamDecoder, call()), recording("openai_chat_tools_stream.sse"))
    [last] = events(raw)
    assert shape(last) == "functionCall finish=STOP"
    assert last["candidates"][0]["content"]["parts"] == [{"functionCall": {
        "name": "get_weather", "args": {"location": "Paris"}, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA"}}]


@pytest.mark.parametrize("native, shapes", [
    (THINKING, ["thought"] * 4 + ["text", "finish=STOP"]),  # the recording has no usage
    (None, ["text", "finish=STOP"]),
])
def test_anthropic_thinking_is_thought_parts_only_when_asked(native, shapes):
    data = recording("anthropic_thinking.sse")
    c = call("claude-opus-4-6", native)
    out = events(run(translated(AnthropicStreamDecoder, c), data))
    assert [shape(e) for e in out] == shapes


def test_a_failure_mid_stream_is_one_google_error_event():
    data = b"".join(recording("openai_chat_stream.sse").split(b"\n\n")[i] + b"\n\n" for i in range(2))
    decoder = translated(OpenAIStreamDecoder, call())
    first = decoder.feed(data + b"data: {garbage\n\n")
    assert [shape(e) for e in events(b"".join(first))] == ["text"]
    assert isinstance(decoder.error, UpstreamError)
    [error] = events(decoder.error_frame(decoder.error))
    assert error["error"]["code"] == 502 and error["error"]["status"] == "UNAVAILABLE"
    assert decoder.keepalive is False


def native(c=None) -> NativeStreamDecoder:
    return NativeStreamDecoder(c or call("gemini-2.5-flash"))


def test_passthrough_relays_gemini_events_as_gemini_frames_them():
    data = recording("gemini_stream_text.sse")
    c = call("gemini-2.5-flash")
    raw = run(native(c), data)
    assert raw == data  # the recording is Gemini's own framing: data: ...\r\n\r\n
    assert [shape(e) for e in events(raw)] == ["thought usage", "text usage", "text usage", "finish=STOP usage"]
    assert c.usage["total_tokens"] == 78 and c.usage["completion_tokens_details"]["reasoning_tokens"] == 40
    for cut in range(1, len(data)):
        assert run(native(), data, [cut]) == data, cut


def test_passthrough_of_a_tool_call_stream_and_lf_framing():
    data = recording("gemini_stream_tools.sse").replace(b"\r\n", b"\n")
    assert run(native(), data) == recording("gemini_stream_tools.sse")


def test_passthrough_stream_cut_before_its_finish_reason_is_incomplete():
    data = recording("gemini_stream_text.sse")
    cut = data[:data.rfind(b"data: ")]
    decoder = native()
    assert len(decoder.feed(cut)) == 3
    with pytest.raises(UpstreamError) as caught:
        decoder.finish()
    assert caught.value.code == "stream_incomplete"


def test_passthrough_of_a_blocked_prompt_is_complete():
    blocked = b'data: {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}\r\n\r\n'
    assert run(native(), blocked) == blocked


@pytest.mark.parametrize("bad, code", [
    (b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n', "UNAVAILABLE"),
    (b"data: {this is not json\r\n\r\n", "malformed_upstream_event"),
    (b"data: [1, 2]\r\n\r\n", "malformed_upstream_event"),
])
def test_passthrough_error_events_end_the_stream(bad, code):
    first = recording("gemini_stream_text.sse").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    decoder = native()
    assert decoder.feed(first + bad) == [first]
    assert decoder.error.code == code
    [error] = events(decoder.error_frame(decoder.error))
    assert error["error"]["status"] == "UNAVAILABLE" and error["error"]["code"] in (502, 503)
