"""OpenAI chat streams -> Anthropic events, through the real decoder pair the relay uses, at every split."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC
from bifrost_proxy.inbound.anthropic.stream import MessagesStreamTranslator
from bifrost_proxy.inbound.base import DialectDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.openai import OpenAIStreamDecoder
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame
from tests.fakes.recording import recording

TEXT = recording("openai_chat_stream.sse")
TOOLS = recording("openai_chat_tools_stream.sse")
REASONING = recording("openai_reasoning_stream.sse")


def call(**body: Any) -> Call:
    return Call(Endpoint.CHAT, "gpt-4o-mini", {"model": "openai/gpt-4o-mini", "messages": [], **body}, stream=True)


def run(raw: bytes, pieces: list[bytes] | None = None, the_call: Call | None = None) -> list[bytes]:
    the_call = the_call or call()
    decoder = DialectDecoder(OpenAIStreamDecoder(the_call), MessagesStreamTranslator(the_call), ANTHROPIC)
    frames: list[bytes] = []
    for piece in pieces if pieces is not None else [raw]:
        frames += decoder.feed(piece)
    frames += decoder.finish()
    assert decoder.done
    return frames


def events(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in frames:
        head, data = frame.rstrip(b"\n").split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: ") and frame.endswith(b"\n\n")
        payload = orjson.loads(data[6:])
        assert payload["type"] == head[7:].decode()  # Anthropic names each event twice, and the same
        out.append((payload["type"], payload))
    return out


def test_text_stream_as_anthropic_streams_it():
    out = events(run(TEXT))
    assert [kind for kind, _ in out] == ["message_start", "content_block_start", "ping"] + \
        ["content_block_delta"] * 4 + ["content_block_stop", "message_delta", "message_stop"]
    assert out[0][1]["message"] == {"id": "chatcmpl-AXl0x2bd1", "type": "message", "role": "assistant",
                                    "model": "gpt-4o-mini-2024-07-18", "content": [], "stop_reason": None,
                                    "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0,
                                                                     "cache_creation_input_tokens": 0,
                                                                     "cache_read_input_tokens": 0}}
    assert out[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert "".join(p["delta"]["text"] for k, p in out if k == "content_block_delta") == \
        "Once upon a time, in Zürich 🐉."
    assert out[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"input_tokens": 12, "output_tokens": 9, "cache_creation_input_tokens": 0,
                                    "cache_read_input_tokens": 0}}


@pytest.mark.parametrize("raw", [TEXT, TOOLS, REASONING], ids=["text", "tools", "reasoning"])
def test_every_split_gives_the_same_events(raw):
    whole = run(raw)
    for at in range(1, len(raw)):
        assert run(raw, [raw[:at], raw[at:]]) == whole, at
    assert run(raw, [raw[i:i + 1] for i in range(len(raw))]) == whole


def test_tool_calls_become_tool_use_blocks():
    out = events(run(TOOLS))
    assert out[1][1]["content_block"] == {"type": "tool_use", "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                                          "name": "get_weather", "input": {}}
    assert "".join(p["delta"]["partial_json"] for k, p in out if k == "content_block_delta") == \
        '{"location":"Paris"}'
    assert out[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_reasoning_becomes_a_thinking_block_before_the_text():
    out = events(run(REASONING))
    starts = [p["content_block"] for k, p in out if k == "content_block_start"]
    assert starts == [{"type": "thinking", "thinking": "", "signature": ""}, {"type": "text", "text": ""}]
    stops = [p["index"] for k, p in out if k == "content_block_stop"]
    assert stops == [0, 1]
    assert out[-2][1]["usage"]["output_tokens"] == 96


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish, **extra}
    return data_frame({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]})


def translate(*frames: bytes, the_call: Call | None = None) -> list[tuple[str, dict[str, Any]]]:
    translator = MessagesStreamTranslator(the_call or call())
    return events(translator.feed(list(frames)) + translator.finish())


def test_parallel_tool_calls_interleaved_and_text_after_them():
    out = translate(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\""}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        chunk({"content": "done"}), chunk(finish="tool_calls"), DONE_FRAME)
    assert [(k, p.get("index")) for k, p in out] == [
        ("message_start", None), ("content_block_start", 0), ("ping", None), ("content_block_delta", 0),
        ("content_block_stop", 0), ("content_block_start", 1), ("content_block_delta", 1),
        ("content_block_delta", 0), ("content_block_stop", 1), ("content_block_start", 2),
        ("content_block_delta", 2), ("content_block_stop", 2), ("message_delta", None), ("message_stop", None)]
    assert [p["delta"]["partial_json"] for k, p in out if k == "content_block_delta" and p["index"] == 0] == \
        ['{"x"', ":1}"]


def test_a_tool_call_without_an_id_gets_one():
    out = translate(chunk({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}), DONE_FRAME)
    assert out[1][1]["content_block"]["id"].startswith("toolu_")


@pytest.mark.parametrize("finish, extra, reason, sequence", [
    ("length", {}, "max_tokens", None),
    ("content_filter", {}, "refusal", None),
    ("stop", {"stop_reason": "###"}, "stop_sequence", "###"),
])
def test_stop_reasons(finish, extra, reason, sequence):
    out = translate(chunk({"content": "x"}), chunk(finish=finish, **extra), DONE_FRAME,
                    the_call=call(stop=["###"]))
    assert out[-2][1]["delta"] == {"stop_reason": reason, "stop_sequence": sequence}


def test_usage_the_provider_decoder_kept_is_reported_at_the_end():
    the_call = call()
    the_call.usage = {"prompt_tokens": 50, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 20}}
    out = translate(chunk({"content": "x"}), chunk(finish="stop"), DONE_FRAME, the_call=the_call)
    assert out[-2][1]["usage"] == {"input_tokens": 30, "output_tokens": 7, "cache_creation_input_tokens": 0,
                                   "cache_read_input_tokens": 20}


def test_an_empty_answer_is_still_a_whole_message():
    assert [k for k, _ in translate(DONE_FRAME)] == ["message_start", "message_delta", "message_stop"]
    assert [k for k, _ in translate(chunk({"role": "assistant", "content": ""}), chunk(finish="stop"),
                                    DONE_FRAME)] == ["message_start", "message_delta", "message_stop"]


def test_a_failed_stream_ends_with_one_error_event_in_anthropics_shape():
    the_call = call()
    decoder = DialectDecoder(OpenAIStreamDecoder(the_call), MessagesStreamTranslator(the_call), ANTHROPIC)
    frames = decoder.feed(TEXT[:600] + b"data: {broken\n\n")
    assert [k for k, _ in events(frames)][:2] == ["message_start", "content_block_start"]
    assert decoder.error is not None
    frame = decoder.error_frame(decoder.error)
    assert frame == (b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":'
                     b'"the upstream sent a malformed stream event (not JSON)"}}\n\n')
