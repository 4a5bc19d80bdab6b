"""ConverseStream event-stream bytes -> OpenAI chunk SSE frames, replayed from the recordings."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bifrost_proxy.errors import BadRequest, GatewayError, RateLimited, UpstreamError, UpstreamTimeout, \
    UpstreamUnavailable
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.bedrock import ADAPTER
from bifrost_proxy.providers.bedrock.eventstream import encode_message
from bifrost_proxy.sse.encode import DONE_FRAME

RECORDINGS = Path(__file__).parents[2] / "fakes" / "recordings"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def call(include_usage: bool | None = None) -> Call:
    body: dict = {"model": f"bedrock/{MODEL}", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    return Call(Endpoint.CHAT, MODEL, body, stream=True)


def frame(event: str, payload: dict) -> bytes:
    return encode_message({":event-type": event, ":content-type": "application/json", ":message-type": "event"},
                          orjson.dumps(payload))


def exception(kind: str, message: str = "boom") -> bytes:
    return encode_message({":exception-type": kind, ":content-type": "application/json",
                           ":message-type": "exception"}, orjson.dumps({"message": message}))


def events(name: str) -> list[dict]:
    return orjson.loads((RECORDINGS / f"{name}.json").read_bytes())


def encoded(name: str) -> bytes:
    return b"".join(frame(e["event"], e["payload"]) for e in events(name))


def run(data_chunks, c: Call | None = None) -> tuple[list[bytes], object]:
    decoder = ADAPTER.stream_decoder(c or call())
    frames: list[bytes] = []
    for chunk in data_chunks:
        frames += decoder.feed(chunk)
    frames += decoder.finish()
    return frames, decoder


def parsed(frames: list[bytes]) -> list:
    out = []
    for f in frames:
        assert f.startswith(b"data: ") and f.endswith(b"\n\n") and f.count(b"\n") == 2
        out.append("[DONE]" if f == DONE_FRAME else orjson.loads(f[6:]))
    return out


def test_binary_recordings_are_the_json_recordings_encoded():
    for name in ("bedrock_converse_stream", "bedrock_converse_stream_tools"):
        assert (RECORDINGS / f"{name}.bin").read_bytes() == encoded(name)


def test_text_stream():
    frames, decoder = run([(RECORDINGS / "bedrock_converse_stream.bin").read_bytes()])
    chunks = parsed(frames)
    assert chunks[-1] == "[DONE]" and decoder.done and decoder.media_type == "text/event-stream"
    chunks = chunks[:-1]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["id"].startswith("chatcmpl-")
    assert {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Bonjour à vous — ça va? 🙂"
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, None, "stop"]


def test_usage_is_recorded_on_the_call_even_when_not_asked():
    c = call()
    run([encoded("bedrock_converse_stream")], c)
    assert c.usage == {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21,
                       "prompt_tokens_details": {"cached_tokens": 0}}


def test_chunk_id_is_the_upstream_request_id_when_known():
    c = call()
    c.upstream_headers = {"x-amzn-RequestId": "abc-123"}
    chunks = parsed(run([encoded("bedrock_converse_stream")], c)[0])
    assert {ch["id"] for ch in chunks[:-1]} == {"chatcmpl-abc-123"}


def test_usage_chunk_when_asked():
    frames, _ = run([encoded("bedrock_converse_stream")], call(include_usage=True))
    chunks = parsed(frames)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"] == {
        "prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 0}}
    assert all(c["usage"] is None for c in chunks[:-2])
    assert parsed(run([encoded("bedrock_converse_stream")], call(include_usage=False))[0])[-2]["choices"]


def normalised(frames: list[bytes]) -> list:
    out = []
    for chunk in parsed(frames):
        if isinstance(chunk, dict):
            chunk = {k: v for k, v in chunk.items() if k not in ("id", "created")}
        out.append(chunk)
    return out


@pytest.mark.parametrize("name", ["bedrock_converse_stream", "bedrock_converse_stream_tools"])
def test_split_at_every_offset_gives_the_same_events(name):
    data = encoded(name)
    whole = normalised(run([data], call(True))[0])
    for cut in range(len(data) + 1):
        assert normalised(run([data[:cut], data[cut:]], call(True))[0]) == whole, cut


def test_tool_stream():
    chunks = parsed(run([encoded("bedrock_converse_stream_tools")], call(True))[0])
    deltas = [c["choices"][0]["delta"] for c in chunks if isinstance(c, dict) and c["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert all(c["index"] == 0 for c in calls)
    args = "".join(c["function"]["arguments"] for c in calls)
    assert orjson.loads(args) == {"city": "Paris", "unit": "celsius"}
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]][-1] == "tool_calls"
    assert chunks[-2]["usage"] == {"prompt_tokens": 488, "completion_tokens": 71, "total_tokens": 559,
                                   "prompt_tokens_details": {"cached_tokens": 100}}


def test_two_tool_blocks_get_indexes_0_and_1():
    data = b"".join([
        frame("messageStart", {"role": "assistant"}),
        frame("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "a", "name": "f"}}}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}}),
        frame("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "b", "name": "g"}}}),
        frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}),
        frame("messageStop", {"stopReason": "tool_use"}),
        frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2}})])
    chunks = parsed(run([data])[0])
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:5]]
    assert [(c["index"], c.get("id")) for c in calls] == [(0, "a"), (0, None), (1, "b"), (1, None)]


def test_reasoning_deltas_become_reasoning_content_and_signatures_are_dropped():
    data = b"".join([
        frame("messageStart", {"role": "assistant"}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame("someFutureEvent", {"x": 1}),
        frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "ok"}}),
        frame("messageStop", {"stopReason": "max_tokens"}),
        frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2}})])
    chunks = parsed(run([data])[0])
    assert [c["choices"][0]["delta"] for c in chunks[1:3]] == [{"reasoning_content": "hmm"}, {"content": "ok"}]
    assert chunks[3]["choices"][0]["finish_reason"] == "length"
    assert len(chunks) == 5


@pytest.mark.parametrize("kind,cls,status", [
    ("throttlingException", RateLimited, 429),
    ("serviceUnavailableException", UpstreamUnavailable, 503),
    ("modelNotReadyException", UpstreamUnavailable, 503),
    ("validationException", BadRequest, 400),
    ("internalServerException", UpstreamError, 502),
    ("modelStreamErrorException", UpstreamError, 502),
    ("modelTimeoutException", UpstreamTimeout, 504),
    ("somethingNewException", UpstreamError, 502),
])
def test_exception_frame_mid_stream(kind, cls, status):
    decoder = ADAPTER.stream_decoder(call())
    head = frame("messageStart", {"role": "assistant"}) + frame("contentBlockDelta", {
        "contentBlockIndex": 0, "delta": {"text": "Hel"}})
    assert len(decoder.feed(head)) == 2
    with pytest.raises(cls) as err:
        decoder.feed(exception(kind, "the model said no"))
    assert err.value.status == status and err.value.message == "the model said no" and err.value.code == kind
    assert not decoder.done


def test_events_read_with_an_exception_frame_go_out_before_the_error():
    decoder = ADAPTER.stream_decoder(call())
    frames = decoder.feed(frame("messageStart", {"role": "assistant"}) + exception("throttlingException"))
    assert len(frames) == 1
    assert isinstance(decoder.error, RateLimited)  # the relay raises it right after writing the frames
    assert decoder.feed(frame("messageStop", {"stopReason": "end_turn"})) == []
    with pytest.raises(RateLimited):
        decoder.finish()


def test_events_read_with_a_corrupt_frame_go_out_before_the_error():
    good = frame("messageStart", {"role": "assistant"})
    bad = bytearray(frame("contentBlockDelta", {"delta": {"text": "x"}}))
    bad[-2] ^= 1
    decoder = ADAPTER.stream_decoder(call())
    assert len(decoder.feed(good + bytes(bad))) == 1
    assert isinstance(decoder.error, UpstreamError) and decoder.error.code == "malformed_upstream_event"
    with pytest.raises(UpstreamError):
        decoder.finish()


def test_exception_before_any_event_is_raised_at_once():
    with pytest.raises(RateLimited):
        ADAPTER.stream_decoder(call()).feed(exception("throttlingException"))


def test_error_message_type_frame():
    bad = encode_message({":message-type": "error", ":error-code": "InternalFailure",
                          ":error-message": "stream broke"}, b"")
    with pytest.raises(UpstreamError) as err:
        ADAPTER.stream_decoder(call()).feed(bad)
    assert err.value.status == 502 and err.value.code == "InternalFailure" and err.value.message == "stream broke"


def test_bad_crc_is_an_upstream_error():
    data = bytearray(encoded("bedrock_converse_stream"))
    data[-1] ^= 0xFF
    decoder = ADAPTER.stream_decoder(call())
    with pytest.raises(UpstreamError) as err:
        decoder.feed(bytes(data))
        decoder.finish()
    assert err.value.status == 502 and err.value.code == "malformed_upstream_event"


def test_garbage_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        ADAPTER.stream_decoder(call()).feed(b'{"message": "not an event stream at all"}')


def test_truncated_stream_is_incomplete():
    data = encoded("bedrock_converse_stream")
    decoder = ADAPTER.stream_decoder(call())
    decoder.feed(data[:200])
    with pytest.raises(UpstreamError) as err:
        decoder.finish()
    assert err.value.code == "stream_incomplete"


def test_close_before_message_stop_is_incomplete_even_at_a_frame_boundary():
    data = b"".join(frame(e["event"], e["payload"]) for e in events("bedrock_converse_stream")[:4])
    decoder = ADAPTER.stream_decoder(call())
    assert len(decoder.feed(data)) == 4
    with pytest.raises(UpstreamError, match="no messageStop"):
        decoder.finish()
    assert not decoder.done


def test_no_metadata_still_ends_complete_at_finish():
    data = b"".join(frame(e["event"], e["payload"]) for e in events("bedrock_converse_stream")[:-1])
    decoder = ADAPTER.stream_decoder(call(True))
    frames = decoder.feed(data)
    assert DONE_FRAME not in frames and not decoder.done
    assert decoder.finish() == [DONE_FRAME] and decoder.done


def test_nothing_after_done():
    decoder = ADAPTER.stream_decoder(call())
    decoder.feed(encoded("bedrock_converse_stream"))
    assert decoder.done
    assert decoder.feed(frame("contentBlockDelta", {"delta": {"text": "late"}})) == []
    assert decoder.finish() == []


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]"])
def test_event_payload_that_is_not_a_json_object(payload):
    bad = encode_message({":event-type": "contentBlockDelta", ":message-type": "event"}, payload)
    with pytest.raises(GatewayError) as err:
        ADAPTER.stream_decoder(call()).feed(bad)
    assert err.value.status == 502


def test_odd_shapes_in_events_are_ignored_not_crashed_on():
    data = b"".join([
        frame("messageStart", {"role": "assistant"}),
        frame("contentBlockStart", {"contentBlockIndex": "x", "start": "nope"}),
        frame("contentBlockDelta", {"contentBlockIndex": {}, "delta": "nope"}),
        frame("contentBlockDelta", {"contentBlockIndex": None, "delta": {"toolUse": {"input": 5}}}),
        frame("messageStop", {"stopReason": ["?"]}),
        frame("metadata", {"usage": "none"})])
    chunks = parsed(run([data])[0])
    assert chunks[1]["choices"][0]["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}
    assert chunks[2]["choices"][0]["finish_reason"] == "stop" and chunks[-1] == "[DONE]"
