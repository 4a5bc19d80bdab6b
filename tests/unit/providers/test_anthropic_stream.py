"""Anthropic Messages streams -> OpenAI chunks: recordings, every split, errors and truncation."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import GatewayError, RateLimited, UpstreamError, UpstreamUnavailable
from bifrost_proxy.providers.anthropic import ADAPTER, AnthropicStreamDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.sse.encode import DONE_FRAME
from tests.fakes.recording import recording

TEXT = recording("anthropic_text.sse")
TOOLS = recording("anthropic_tool_use.sse")
THINKING = recording("anthropic_thinking.sse")
OVERLOADED = recording("anthropic_overloaded.sse")


def call(include_usage: bool = False, **body: Any) -> Call:
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return Call(Endpoint.CHAT, "claude-requested", {"model": "anthropic/claude-requested", **body}, stream=True)


def decoder(**kwargs: Any) -> AnthropicStreamDecoder:
    return AnthropicStreamDecoder(call(**kwargs), created=1700000000)


def run(data: bytes, pieces: list[bytes] | None = None, **kwargs: Any) -> list[bytes]:
    dec = decoder(**kwargs)
    frames: list[bytes] = []
    for piece in pieces if pieces is not None else [data]:
        frames += dec.feed(piece)
    frames += dec.finish()
    assert dec.done
    return frames


def chunks(frames: list[bytes]) -> list[dict[str, Any]]:
    assert frames[-1] == DONE_FRAME and DONE_FRAME not in frames[:-1]
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and frame.count(b"\n") == 2
    return [orjson.loads(f[6:]) for f in frames[:-1]]


def deltas(frames: list[bytes]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks(frames) if c["choices"]]


def event(obj: dict[str, Any]) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


START = event({"type": "message_start", "message": {"id": "msg_x", "type": "message", "role": "assistant",
                                                     "model": "claude-x", "content": [], "usage": {
                                                         "input_tokens": 10, "cache_read_input_tokens": 100,
                                                         "cache_creation_input_tokens": 5, "output_tokens": 1}}})
STOP = event({"type": "message_stop"})


def tool_start(index: int, tool_id: str, name: str) -> bytes:
    return event({"type": "content_block_start", "index": index,
                  "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}})


def json_delta(index: int, partial: str) -> bytes:
    return event({"type": "content_block_delta", "index": index,
                  "delta": {"type": "input_json_delta", "partial_json": partial}})


def stop_reason(reason: str, usage: dict | None = None) -> bytes:
    return event({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                  "usage": usage or {"output_tokens": 9}})


# -- recordings ---------------------------------------------------------------------------------------


def test_text_stream_exact_chunks():
    out = chunks(run(TEXT))
    base = {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "object": "chat.completion.chunk",
            "created": 1700000000, "model": "claude-opus-4-6"}
    assert out == [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "Hello"}, "logprobs": None, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "!"}, "logprobs": None, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]},
    ]


def test_usage_chunk_only_when_asked():
    out = chunks(run(TEXT, include_usage=True))
    assert out[-1]["choices"] == [] and out[-1]["id"] == out[0]["id"] and out[-1]["model"] == "claude-opus-4-6"
    assert out[-1]["usage"] == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40,
                                "prompt_tokens_details": {"cached_tokens": 0}}
    assert all("usage" not in c for c in chunks(run(TEXT)))


def test_tool_stream_has_openai_tool_call_deltas():
    got = deltas(run(TOOLS))
    text = "".join(d.get("content", "") for d in got)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    calls = [d["tool_calls"][0] for d in got if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert all(c == {"index": 0, "function": {"arguments": c["function"]["arguments"]}} for c in calls[1:])
    assert all(c["function"]["arguments"] for c in calls[1:])  # Anthropic's empty first fragment is not sent
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert orjson.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert chunks(run(TOOLS))[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_thinking_stream_puts_thinking_in_reasoning_content():
    got = deltas(run(THINKING))
    reasoning = "".join(d.get("reasoning_content", "") for d in got)
    assert reasoning.startswith("I need to find the GCD") and "2 × 462 + 147" in reasoning
    assert reasoning.endswith("GCD(1071, 462) = 21.")
    assert "".join(d.get("content", "") for d in got) == "The greatest common divisor of 1071 and 462 is **21**."
    assert not any("signature" in orjson.dumps(d).decode() for d in got)


@pytest.mark.parametrize("name", ["TEXT", "TOOLS", "THINKING"])
def test_every_split_gives_identical_output(name):
    data = globals()[name]
    whole = run(data, include_usage=True)
    for i in range(len(data) + 1):
        assert run(data, [data[:i], data[i:]], include_usage=True) == whole, f"split at byte {i}"
    assert run(data, [data[i:i + 1] for i in range(len(data))], include_usage=True) == whole


def test_a_split_inside_a_utf8_character():
    at = THINKING.index("×".encode()) + 1  # between the two bytes of U+00D7
    assert run(THINKING, [THINKING[:at], THINKING[at:]]) == run(THINKING)


def test_crlf_framing_gives_identical_output():
    assert run(TEXT.replace(b"\n", b"\r\n")) == run(TEXT)


def test_chunks_keep_one_id_created_and_model():
    out = chunks(run(TOOLS, include_usage=True))
    assert {(c["id"], c["created"], c["model"]) for c in out} == {
        ("msg_014p7gG3wDgGV9EUtLvnow3U", 1700000000, "claude-opus-4-6")}


# -- synthetic streams --------------------------------------------------------------------------------


def test_parallel_tool_calls_get_their_own_indexes():
    data = (START + tool_start(0, "t_a", "a") + json_delta(0, '{"x":') + tool_start(1, "t_b", "b")
            + json_delta(1, '{"y":2}') + json_delta(0, "1}") + stop_reason("tool_use") + STOP)
    calls = [d["tool_calls"][0] for d in deltas(run(data))[1:] if "tool_calls" in d]
    assert [(c["index"], c.get("id"), c["function"]["arguments"]) for c in calls] == [
        (0, "t_a", ""), (0, None, '{"x":'), (1, "t_b", ""), (1, None, '{"y":2}'), (0, None, "1}")]


def test_usage_sums_cached_input_and_takes_the_last_output_count():
    data = START + stop_reason("end_turn", {"output_tokens": 3}) + stop_reason("end_turn", {"output_tokens": 8}) + STOP
    out = chunks(run(data, include_usage=True))
    assert out[-1]["usage"] == {"prompt_tokens": 115, "completion_tokens": 8, "total_tokens": 123,
                                "prompt_tokens_details": {"cached_tokens": 100}}
    assert [c["choices"][0]["finish_reason"] for c in out[:-1]] == [None, "stop"]  # one finish chunk


@pytest.mark.parametrize("reason, finish", [("max_tokens", "length"), ("stop_sequence", "stop"),
                                            ("refusal", "content_filter")])
def test_stream_finish_reasons(reason, finish):
    assert chunks(run(START + stop_reason(reason) + STOP))[-1]["choices"][0]["finish_reason"] == finish


def test_json_response_tool_streams_as_content():
    data = START + tool_start(0, "t", "json_response") + json_delta(0, '{"a"') + json_delta(0, ": 1}") \
        + stop_reason("tool_use") + STOP
    got = deltas(run(data, response_format={"type": "json_object"}))
    assert got == [{"role": "assistant", "content": ""}, {"content": '{"a"'}, {"content": ": 1}"}, {}]
    assert chunks(run(data, response_format={"type": "json_object"}))[-1]["choices"][0]["finish_reason"] == "stop"


def test_server_tool_input_is_not_a_client_tool_call():
    data = (START + event({"type": "content_block_start", "index": 0, "content_block": {
        "type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}})
        + json_delta(0, '{"query": "x"}') + stop_reason("end_turn") + STOP)
    assert deltas(run(data)) == [{"role": "assistant", "content": ""}, {}]


def test_unknown_events_and_events_after_message_stop_are_ignored():
    dec = decoder()
    frames = dec.feed(START + event({"type": "brand_new_event", "x": 1}) + STOP + START)
    assert len(frames) == 3 and frames[-1] == DONE_FRAME and dec.done
    assert dec.feed(TEXT) == [] and dec.finish() == []


# -- failures -----------------------------------------------------------------------------------------


def test_error_event_mid_stream_raises_the_mapped_error():
    dec = decoder()
    head, _, tail = OVERLOADED.partition(b"event: error")
    frames = dec.feed(head)
    assert len(frames) == 2 and not dec.done
    with pytest.raises(UpstreamUnavailable) as info:
        dec.feed(b"event: error" + tail)
    assert (info.value.status, info.value.code, info.value.retryable) == (503, "overloaded_error", True)
    assert not dec.done


def test_frames_before_an_error_in_the_same_read_are_delivered_first():
    dec = decoder()
    frames = dec.feed(OVERLOADED)
    assert [orjson.loads(f[6:])["choices"][0]["delta"] for f in frames] == [
        {"role": "assistant", "content": ""}, {"content": "Hello"}]
    with pytest.raises(UpstreamUnavailable):
        dec.finish()
    with pytest.raises(UpstreamUnavailable):
        dec.feed(b"")


def test_garbage_after_good_events_is_raised_by_the_next_feed():
    dec = decoder()
    assert len(dec.feed(START + b"data: {oops\n\n")) == 1
    with pytest.raises(UpstreamError) as info:
        dec.feed(STOP)
    assert info.value.code == "malformed_upstream_event"


def test_rate_limit_error_event():
    dec = decoder()
    assert len(dec.feed(START)) == 1
    with pytest.raises(RateLimited):
        dec.feed(event({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}))


@pytest.mark.parametrize("cut", [len(TEXT) - len(b"event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"),
                                 len(TEXT) - 10, 0])
def test_a_stream_cut_before_message_stop_fails_in_finish(cut):
    dec = decoder()
    dec.feed(TEXT[:cut])
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert info.value.status == 502 and info.value.code == "stream_incomplete"


def test_a_final_event_without_its_blank_line_still_completes():
    assert run(TEXT.rstrip(b"\n")) == run(TEXT)


@pytest.mark.parametrize("data", [b"event: message_start\ndata: {oops\n\n", b"data: [1, 2]\n\n",
                                  event({"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": "before start"}})])
def test_garbage_is_an_upstream_error(data):
    with pytest.raises(UpstreamError) as info:
        decoder().feed(data)
    assert info.value.status == 502 and info.value.code == "malformed_upstream_event"


def test_usage_is_kept_on_the_call_for_metrics_even_when_the_client_did_not_ask():
    stream_call = call()
    AnthropicStreamDecoder(stream_call).feed(TEXT)
    assert stream_call.usage == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40,
                                 "prompt_tokens_details": {"cached_tokens": 0}}


def test_adapter_builds_the_decoder():
    dec = ADAPTER.stream_decoder(call())
    assert dec.media_type == "text/event-stream" and not dec.done
    frames = dec.feed(TEXT)
    assert dec.done and frames[-1] == DONE_FRAME
    assert all(isinstance(f, bytes) for f in frames)
    assert issubclass(UpstreamError, GatewayError)
