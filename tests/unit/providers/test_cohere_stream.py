"""The Cohere v2 chat stream decoder, fed the recordings whole, split at every byte, and broken."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import GatewayError, UpstreamError, UpstreamTimeout
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.cohere import ADAPTER
from bifrost_proxy.sse.encode import DONE_FRAME
from tests.fakes.recording import recording

TEXT = recording("cohere_chat_stream.sse")
TOOLS = recording("cohere_chat_tools_stream.sse")
CITATIONS = recording("cohere_chat_citations_stream.sse")


def decoder(include_usage: bool = False):
    body: dict[str, Any] = {"model": "cohere/command-a-03-2025", "messages": [], "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return ADAPTER.stream_decoder(Call(Endpoint.CHAT, "command-a-03-2025", body, stream=True))


def run(raw: bytes, include_usage: bool = False, pieces: list[bytes] | None = None) -> list[bytes]:
    dec = decoder(include_usage)
    frames: list[bytes] = []
    for piece in pieces if pieces is not None else [raw]:
        frames += dec.feed(piece)
    frames += dec.finish()
    assert dec.done
    return frames


def chunks(frames: list[bytes]) -> list[dict[str, Any]]:
    assert frames[-1] == DONE_FRAME
    out = []
    for frame in frames[:-1]:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and frame.count(b"\n") == 2
        out.append(orjson.loads(frame[6:]))
    return out


def event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def text_of(objs: list[dict[str, Any]]) -> str:
    return "".join(o["choices"][0]["delta"].get("content") or "" for o in objs if o["choices"])


def test_text_stream_translates_to_openai_chunks() -> None:
    objs = chunks(run(TEXT))
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(objs) == ("LLMs stand for Large Language Models, which are a type of neural network model "
                             "specialized in processing and generating human language.")
    assert {o["id"] for o in objs} == {"chatcmpl-29f14a5a-11de-4cae-9800-25e4747408ea"}
    assert len({o["created"] for o in objs}) == 1
    assert {o["model"] for o in objs} == {"command-a-03-2025"}
    assert {o["object"] for o in objs} == {"chat.completion.chunk"}
    assert [o["choices"][0]["finish_reason"] for o in objs[:-1]] == [None] * (len(objs) - 1)
    assert objs[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all("usage" not in o for o in objs)


def test_include_usage_adds_a_final_usage_chunk() -> None:
    objs = chunks(run(TEXT, include_usage=True))
    assert objs[-1]["choices"] == []
    assert objs[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 26, "total_tokens": 31}
    assert objs[-1]["id"] == objs[0]["id"] and objs[-1]["model"] == "command-a-03-2025"
    assert all(o["usage"] is None for o in objs[:-1])
    assert objs[-2]["choices"][0]["finish_reason"] == "stop"


def test_tool_stream_gives_openai_tool_call_fragments() -> None:
    objs = chunks(run(TOOLS, include_usage=True))
    plan = text_of(objs)
    assert plan.startswith("I will use the query_daily_sales_report tool")
    calls: dict[int, dict[str, Any]] = {}
    for o in objs:
        for frag in (o["choices"][0]["delta"].get("tool_calls") or []) if o["choices"] else []:
            if "id" in frag:
                assert frag["index"] not in calls and frag["type"] == "function"
                assert frag["function"]["arguments"] == ""
                calls[frag["index"]] = {"id": frag["id"], "name": frag["function"]["name"], "arguments": ""}
            else:
                assert set(frag) == {"index", "function"} and set(frag["function"]) == {"arguments"}
                calls[frag["index"]]["arguments"] += frag["function"]["arguments"]
    assert calls == {
        0: {"id": "query_daily_sales_report_j3f0adww9pmr", "name": "query_daily_sales_report",
            "arguments": '{"day": "2023-09-29"}'},
        1: {"id": "query_product_catalog_c66nf11r6s8g", "name": "query_product_catalog",
            "arguments": '{"category": "Electronics"}'},
    }
    assert objs[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert objs[-1]["usage"] == {"prompt_tokens": 126, "completion_tokens": 84, "total_tokens": 210}


def test_citations_are_left_out_and_float_usage_is_counted() -> None:
    objs = chunks(run(CITATIONS, include_usage=True))
    assert text_of(objs) == "Both Nsync and Backstreet Boys were"
    assert objs[-1]["usage"] == {"prompt_tokens": 18, "completion_tokens": 6, "total_tokens": 24}


@pytest.mark.parametrize("name", ["cohere_chat_stream.sse", "cohere_chat_tools_stream.sse",
                                  "cohere_chat_citations_stream.sse"])
def test_every_split_gives_the_same_output(name: str) -> None:
    raw = recording(name)
    assert name != "cohere_chat_citations_stream.sse" or len(raw) != len(raw.decode())  # holds multi-byte UTF-8
    expected = [_no_created(f) for f in run(raw, include_usage=True)]
    for cut in range(1, len(raw)):
        assert [_no_created(f) for f in run(raw, True, [raw[:cut], raw[cut:]])] == expected, cut


def test_one_byte_at_a_time_and_crlf_framing() -> None:
    raw = TEXT.replace(b"\n", b"\r\n")
    expected = [_no_created(f) for f in run(TEXT)]
    assert [_no_created(f) for f in run(raw, pieces=[raw[i:i + 1] for i in range(len(raw))])] == expected


def test_multibyte_text_split_inside_a_character() -> None:
    raw = (event("message-start", id="u1", delta={"message": {"role": "assistant"}})
           + event("content-delta", index=0, delta={"message": {"content": {"text": "Grüße, 世界 🌍"}}})
           + event("message-end", delta={"finish_reason": "COMPLETE"}))
    expected = run(raw)
    assert text_of(chunks(expected)) == "Grüße, 世界 🌍"
    for cut in range(1, len(raw)):
        assert [_no_created(f) for f in run(raw, pieces=[raw[:cut], raw[cut:]])] == \
            [_no_created(f) for f in expected]


def _no_created(frame: bytes) -> bytes:
    # `created` is the second the decoder was made: equal within a run, maybe not across runs
    if frame == DONE_FRAME:
        return frame
    obj = orjson.loads(frame[6:])
    obj.pop("created")
    return orjson.dumps(obj)


@pytest.mark.parametrize("reason,expected", [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"),
                                             ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")])
def test_finish_reasons(reason: str, expected: str) -> None:
    objs = chunks(run(event("message-start", id="x") + event("message-end", delta={"finish_reason": reason})))
    assert objs[-1]["choices"][0]["finish_reason"] == expected


GOOD = (event("message-start", id="x")
        + event("content-delta", index=0, delta={"message": {"content": {"text": "Hel"}}}))
FAILED_END = event("message-end", delta={"finish_reason": "ERROR", "error": "internal model failure"})
ERROR_EVENT = b'event: error\ndata: {"message": "too many tokens"}\n\n'
GARBAGE = b"event: content-delta\ndata: {not json\n\n"


def failed(dec, *pieces: bytes) -> tuple[list[bytes], GatewayError]:
    """Feed ``pieces``; the stream must have failed: later reads give nothing, finish() raises the error."""
    frames = [f for piece in pieces for f in dec.feed(piece)]
    error = dec.error
    assert isinstance(error, GatewayError) and not dec.done
    assert dec.feed(GOOD + event("message-end", delta={"finish_reason": "COMPLETE"})) == []
    with pytest.raises(GatewayError) as info:
        dec.finish()
    assert info.value is error
    return frames, error


def test_finish_reason_error_raises_with_cohere_message() -> None:
    dec = decoder()
    assert len(dec.feed(GOOD)) == 2 and dec.error is None
    frames, error = failed(dec, FAILED_END)
    assert frames == [] and isinstance(error, UpstreamError) and error.message == "internal model failure"


def test_finish_reason_timeout_is_a_timeout() -> None:
    frames, error = failed(decoder(), event("message-end", delta={"finish_reason": "TIMEOUT"}))
    assert frames == [] and isinstance(error, UpstreamTimeout)


@pytest.mark.parametrize("bad", [FAILED_END, ERROR_EVENT, GARBAGE], ids=["failed-end", "error-event", "garbage"])
def test_good_events_read_with_a_bad_one_are_returned_before_the_error(bad: bytes) -> None:
    expected = [_no_created(f) for f in decoder().feed(GOOD)]
    assert len(expected) == 2
    # the events after the bad one in the same read are not translated
    frames, _ = failed(decoder(), GOOD + bad + event("content-delta", index=0,
                                                     delta={"message": {"content": {"text": "lo"}}}))
    assert [_no_created(f) for f in frames] == expected


@pytest.mark.parametrize("bad", [FAILED_END, ERROR_EVENT, GARBAGE], ids=["failed-end", "error-event", "garbage"])
def test_every_split_of_a_failing_stream_gives_identical_output(bad: bytes) -> None:
    raw = GOOD + bad
    whole, error = failed(decoder(), raw)
    whole = [_no_created(f) for f in whole]
    for cut in range(len(raw) + 1):
        frames, other = failed(decoder(), raw[:cut], raw[cut:])
        assert [_no_created(f) for f in frames] == whole, cut
        assert type(other) is type(error) and other.to_dict() == error.to_dict(), cut


def test_a_bad_last_event_without_its_blank_line_raises_from_finish() -> None:
    dec = decoder()
    assert len(dec.feed(GOOD + FAILED_END.rstrip())) == 2 and dec.error is None
    with pytest.raises(UpstreamError):
        dec.finish()
    assert dec.error is not None and not dec.done


def test_stream_cut_before_message_end_raises_in_finish() -> None:
    raw = TEXT[:TEXT.index(b"event: message-end")]
    dec = decoder()
    assert dec.feed(raw)
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert info.value.code == "stream_incomplete"


def test_stream_cut_mid_event_raises_in_finish() -> None:
    dec = decoder()
    dec.feed(TEXT[:-30])
    with pytest.raises(UpstreamError):
        dec.finish()


def test_garbage_is_kept_in_error() -> None:
    for garbage in (GARBAGE, b"data: [1, 2]\n\n"):
        frames, error = failed(decoder(), garbage)
        assert frames == [] and isinstance(error, UpstreamError) and error.code == "malformed_upstream_event"


def test_error_object_in_the_stream_is_kept_with_its_message() -> None:
    for raw in (b'data: {"message": "too many tokens"}\n\n', ERROR_EVENT):
        frames, error = failed(decoder(), raw)
        assert frames == [] and error.message == "too many tokens"


def test_done_marker_and_events_after_message_end_are_not_relayed() -> None:
    dec = decoder()
    frames = dec.feed(TEXT + b"data: [DONE]\n\n" + event("content-delta", index=0, delta={}))
    assert frames[-1] == DONE_FRAME and frames.count(DONE_FRAME) == 1
    assert dec.feed(b"event: whatever\ndata: {}\n\n") == [] and dec.finish() == []


def test_unknown_events_and_thinking_blocks_are_skipped() -> None:
    raw = (event("message-start", id="t")
           + event("content-start", index=0, delta={"message": {"content": {"type": "thinking", "thinking": ""}}})
           + event("content-delta", index=0, delta={"message": {"content": {"thinking": "hmm"}}})
           + event("content-end", index=0)
           + event("debug", prompt="secret prompt")
           + event("content-start", index=1, delta={"message": {"content": {"type": "text", "text": ""}}})
           + event("content-delta", index=1, delta={"message": {"content": {"text": "Answer"}}})
           + event("message-end", delta={"finish_reason": "COMPLETE"}))
    objs = chunks(run(raw))
    assert [o["choices"][0]["delta"] for o in objs] == [
        {"role": "assistant", "content": ""}, {"content": "Answer"}, {}]


def test_stream_without_message_start_still_has_one_id() -> None:
    raw = (event("content-delta", index=0, delta={"message": {"content": {"text": "a"}}})
           + event("message-end", delta={"finish_reason": "COMPLETE"}))
    objs = chunks(run(raw, include_usage=True))
    assert len({o["id"] for o in objs}) == 1 and objs[0]["id"].startswith("chatcmpl-")
    assert objs[-1]["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
