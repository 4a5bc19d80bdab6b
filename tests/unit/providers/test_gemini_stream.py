"""streamGenerateContent?alt=sse -> OpenAI chunks: recordings replayed whole, split at every byte, and cut."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bifrost_proxy.errors import BadRequest, GatewayError, RateLimited, UpstreamError
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.gemini import ADAPTER
from bifrost_proxy.providers.gemini.stream import GeminiStreamDecoder
from bifrost_proxy.sse.encode import DONE_FRAME

RECORDINGS = Path(__file__).parents[2] / "fakes" / "recordings"
NAMES = ["gemini_stream_text.sse", "gemini_stream_tools.sse", "gemini_stream_legacy.sse"]


def decoder(include_usage=True, **body):
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    call = Call(Endpoint.CHAT, "gemini-2.5-flash", {"messages": [], "stream": True, **options, **body}, stream=True)
    return GeminiStreamDecoder(call, token="tok", created=1700000000)


def run(data: bytes, cuts=(), **kw) -> list[bytes]:
    d = decoder(**kw)
    frames, start = [], 0
    for cut in [*cuts, len(data)]:
        frames += d.feed(data[start:cut])
        start = cut
    frames += d.finish()
    assert d.done
    return frames


def chunks(frames):
    assert frames[-1] == DONE_FRAME and DONE_FRAME not in frames[:-1]
    for f in frames[:-1]:
        assert f.startswith(b"data: ") and f.endswith(b"\n\n") and f.count(b"\n") == 2
    return [orjson.loads(f[6:]) for f in frames[:-1]]


def test_text_recording_translates_event_by_event():
    data = (RECORDINGS / "gemini_stream_text.sse").read_bytes()
    out = chunks(run(data))
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in out} == {
        ("chatcmpl-tok", 1700000000, "gemini-2.5-flash", "chat.completion.chunk")}
    deltas = [c["choices"][0]["delta"] for c in out[:-1]]
    assert deltas[0]["role"] == "assistant" and deltas[0]["reasoning_content"].startswith("**Counting the cats**")
    assert "role" not in deltas[1]
    text = "".join(d.get("content", "") for d in deltas)
    assert text == ("Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴),\n"
                    "nap in the sun 🐈☀️ and dream of mice.")
    assert [c["choices"][0]["finish_reason"] for c in out[:-1]] == [None, None, None, "stop"]
    assert out[-2]["choices"][0]["delta"] == {}
    assert out[-1]["choices"] == [] and out[-1]["usage"] == {
        "prompt_tokens": 11, "completion_tokens": 67, "total_tokens": 78,
        "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 40}}


def test_each_function_call_is_one_whole_tool_call_delta():
    out = chunks(run((RECORDINGS / "gemini_stream_tools.sse").read_bytes()))
    calls = out[0]["choices"][0]["delta"]["tool_calls"]
    assert calls == [
        {"index": 0, "id": "call_tok_0", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Zürich","unit":"celsius"}'},
         "extra_content": {"google": {"thought_signature": "CiQB0e2Kb3Jk1ZxYq0p9mE1T0c2lnbmF0dXJlLWV4YW1wbGU="}}},
        {"index": 1, "id": "call_tok_1", "type": "function",
         "function": {"name": "get_time", "arguments": '{"timezone":"Europe/Zurich"}'}},
    ]
    assert out[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert out[2]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 60}


def test_legacy_streams_repeating_finish_reason_finish_once():
    out = chunks(run((RECORDINGS / "gemini_stream_legacy.sse").read_bytes()))
    reasons = [c["choices"][0]["finish_reason"] for c in out if c["choices"]]
    assert reasons == [None, None, None, "stop"]


@pytest.mark.parametrize("name", NAMES)
def test_every_split_gives_identical_output(name):
    data = (RECORDINGS / name).read_bytes()
    whole = run(data)
    assert any(b > 0x7F for b in data)  # the recording holds multi-byte UTF-8, so some cuts fall inside one
    for i in range(len(data) + 1):
        assert run(data, cuts=[i]) == whole, f"split at byte {i}"


@pytest.mark.parametrize("name", NAMES)
def test_byte_by_byte_gives_identical_output(name):
    data = (RECORDINGS / name).read_bytes()
    assert run(data, cuts=range(1, len(data))) == run(data)


def test_without_include_usage_there_is_no_usage_chunk():
    out = chunks(run((RECORDINGS / "gemini_stream_text.sse").read_bytes(), include_usage=False))
    assert all(c["choices"] for c in out) and all("usage" not in c for c in out)


def test_a_last_event_without_its_blank_line_still_counts():
    data = (RECORDINGS / "gemini_stream_text.sse").read_bytes()
    assert run(data.rstrip(b"\r\n")) == run(data)


def test_stream_cut_before_a_finish_reason_raises_in_finish():
    data = (RECORDINGS / "gemini_stream_text.sse").read_bytes()
    events = data.split(b"\r\n\r\n")
    d = decoder()
    frames = d.feed(b"\r\n\r\n".join(events[:2]) + b"\r\n\r\n")
    assert len(frames) == 2
    with pytest.raises(UpstreamError) as info:
        d.finish()
    assert info.value.code == "stream_incomplete" and not d.done


def test_empty_stream_is_incomplete():
    d = decoder()
    with pytest.raises(UpstreamError):
        d.finish()


def test_cut_mid_event_is_malformed():
    data = (RECORDINGS / "gemini_stream_text.sse").read_bytes()
    d = decoder()
    d.feed(data[:40])
    with pytest.raises(UpstreamError):
        d.finish()


ERROR_EVENT = b'data: {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}\r\n\r\n'
GARBAGE_EVENT = b"data: {not json\r\n\r\n"


def good_events(count=2) -> bytes:
    """The first ``count`` events of the text recording: good, but no finishReason yet."""
    events = (RECORDINGS / "gemini_stream_text.sse").read_bytes().split(b"\r\n\r\n")
    return b"\r\n\r\n".join(events[:count]) + b"\r\n\r\n"


def failed(d, *pieces) -> tuple[list[bytes], GatewayError]:
    """Feed ``pieces``; the stream must have failed: later reads give nothing, finish() raises the error."""
    frames = [f for piece in pieces for f in d.feed(piece)]
    error = d.error
    assert isinstance(error, GatewayError) and not d.done
    assert d.feed(good_events()) == []
    with pytest.raises(GatewayError) as info:
        d.finish()
    assert info.value is error
    return frames, error


def test_garbage_event_is_kept_in_error():
    frames, error = failed(decoder(), GARBAGE_EVENT)
    assert frames == [] and isinstance(error, UpstreamError) and error.code == "malformed_upstream_event"


def test_error_event_mid_stream_maps_to_its_status():
    d = decoder()
    assert len(d.feed(good_events(1))) == 1 and d.error is None
    frames, error = failed(d, ERROR_EVENT)
    assert frames == [] and isinstance(error, RateLimited) and error.message == "quota"


@pytest.mark.parametrize("bad,kind", [(ERROR_EVENT, RateLimited), (GARBAGE_EVENT, UpstreamError)],
                         ids=["error-event", "garbage"])
def test_good_events_read_with_a_bad_one_are_returned_before_the_error(bad, kind):
    expected = decoder().feed(good_events())
    assert len(expected) == 2
    # the events after the bad one in the same read are not translated
    frames, error = failed(decoder(), good_events() + bad + good_events(3)[len(good_events()):])
    assert frames == expected and type(error) is kind


@pytest.mark.parametrize("bad", [ERROR_EVENT, GARBAGE_EVENT], ids=["error-event", "garbage"])
def test_every_split_of_a_failing_stream_gives_identical_output(bad):
    data = good_events() + bad
    whole, error = failed(decoder(), data)
    for i in range(len(data) + 1):
        frames, other = failed(decoder(), data[:i], data[i:])
        assert frames == whole and type(other) is type(error) and other.to_dict() == error.to_dict(), i


def test_blocked_prompt_in_a_stream_is_a_content_filter_error():
    blocked = b'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},"usageMetadata": {}}\r\n\r\n'
    frames, error = failed(decoder(), good_events(1) + blocked)
    assert len(frames) == 1 and isinstance(error, BadRequest) and error.code == "content_filter"


def test_a_bad_last_event_without_its_blank_line_raises_from_finish():
    d = decoder()
    assert len(d.feed(good_events() + ERROR_EVENT.rstrip())) == 2 and d.error is None
    with pytest.raises(RateLimited):
        d.finish()
    assert d.error is not None and not d.done


def test_several_candidates_each_finish():
    event = {"candidates": [
        {"content": {"parts": [{"text": "a"}], "role": "model"}, "index": 0, "finishReason": "STOP"},
        {"content": {"parts": [{"text": "b"}], "role": "model"}, "index": 1}]}
    d = decoder(n=2)
    frames = d.feed(b"data: " + orjson.dumps(event) + b"\r\n\r\n")
    assert [orjson.loads(f[6:])["choices"][0]["index"] for f in frames] == [0, 1]
    with pytest.raises(UpstreamError):  # candidate 1 never finished
        d.finish()
    d = decoder(n=2)
    event["candidates"][1]["finishReason"] = "MAX_TOKENS"
    out = chunks(d.feed(b"data: " + orjson.dumps(event) + b"\r\n\r\n") + d.finish())
    assert [(c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in out[2:4]] == [(0, "stop"), (1, "length")]


def test_feed_after_done_is_ignored_and_adapter_builds_decoders():
    d = decoder()
    d.feed((RECORDINGS / "gemini_stream_tools.sse").read_bytes())
    d.finish()
    assert d.feed(b"data: {}\r\n\r\n") == [] and d.finish() == []
    call = Call(Endpoint.CHAT, "m", {"messages": []}, stream=True)
    fresh = ADAPTER.stream_decoder(call)
    assert fresh.media_type == "text/event-stream" and not fresh.done


def test_usage_is_kept_on_the_call_for_the_access_log():
    call = Call(Endpoint.CHAT, "gemini-2.5-flash", {"messages": [], "stream": True}, stream=True)
    d = GeminiStreamDecoder(call)
    d.feed((RECORDINGS / "gemini_stream_text.sse").read_bytes())
    d.finish()
    assert call.usage["total_tokens"] == 78 and call.usage["completion_tokens_details"] == {"reasoning_tokens": 40}
