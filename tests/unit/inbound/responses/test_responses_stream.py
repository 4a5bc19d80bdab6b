"""Chat chunk frames -> Responses events: the exact event sequence, every split, failures (sans-IO)."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_proxy.errors import UpstreamError, UpstreamTimeout
from bifrost_proxy.inbound.base import DialectDecoder
from bifrost_proxy.inbound.responses import stream as stream_module
from bifrost_proxy.inbound.responses.dialect import DIALECT
from bifrost_proxy.inbound.responses.stream import ResponsesStreamTranslator
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.openai import OpenAIStreamDecoder
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame
from tests.fakes.recording import recording

TEXT = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 4, "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
TOOL = ["response.created", "response.in_progress", "response.output_item.added",
        *["response.function_call_arguments.delta"] * 3, "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]


@pytest.fixture(autouse=True)
def fixed_id(monkeypatch):
    monkeypatch.setattr(stream_module, "new_response_id", lambda: "resp_" + "ab" * 24)


def call(usage_added: bool = True, **native: Any) -> Call:
    c = Call(Endpoint.CHAT, "gpt-4o-mini", {}, stream=True, native_body={"model": "x/y", "input": "Hi", **native})
    c.flags["usage_added"] = usage_added  # as the openai adapter marks the usage chunk it asked for
    return c


def decoder(c: Call) -> DialectDecoder:
    return DialectDecoder(OpenAIStreamDecoder(c), ResponsesStreamTranslator(c), DIALECT)


def events(frames: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for frame in frames:
        for block in frame.split(b"\n\n"):
            if block:
                name, data = block.split(b"\n")
                payload = orjson.loads(data[6:])
                assert name == b"event: " + payload["type"].encode()
                out.append(payload)
    return out


def run(chunks: list[bytes], c: Call | None = None) -> list[bytes]:
    d = decoder(c or call())
    frames = []
    for chunk in chunks:
        frames += d.feed(chunk)
    return frames + d.finish()


def test_the_recorded_text_stream_in_openais_order():
    c = call()
    out = events(run([recording("openai_chat_stream.sse")], c))
    assert [e["type"] for e in out] == TEXT
    assert [e["sequence_number"] for e in out] == list(range(len(TEXT)))
    assert "".join(e["delta"] for e in out if e["type"] == "response.output_text.delta") == \
        "Once upon a time, in Zürich 🐉."
    item = out[-2]["item"]
    assert item == {"id": item["id"], "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                 "text": "Once upon a time, in Zürich 🐉."}]}
    completed = out[-1]["response"]
    assert completed["id"] == out[0]["response"]["id"] == "resp_" + "ab" * 24
    assert completed["status"] == "completed" and completed["output"] == [item]
    assert completed["model"] == "gpt-4o-mini-2024-07-18" and completed["usage"]["total_tokens"] == 21
    assert completed["created_at"] == out[0]["response"]["created_at"] == 1732555200  # the chunks' own
    assert out[0]["response"]["status"] == "in_progress" and out[0]["response"]["output"] == []


def test_the_recorded_tool_stream_in_openais_order():
    out = events(run([recording("openai_chat_tools_stream.sse")]))
    assert [e["type"] for e in out] == TOOL
    assert out[2]["item"] == {"id": out[2]["item"]["id"], "type": "function_call", "status": "in_progress",
                              "arguments": "", "call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "name": "get_weather"}
    assert out[-3]["arguments"] == '{"location":"Paris"}' and out[-3]["name"] == "get_weather"
    assert out[-1]["response"]["output"] == [out[-2]["item"]]


@pytest.mark.parametrize("name", ["openai_chat_stream.sse", "openai_chat_tools_stream.sse"])
def test_every_split_gives_identical_output(name):
    data = recording(name)
    whole = run([data])
    for i in range(1, len(data)):
        assert run([data[:i], data[i:]]) == whole, f"split at byte {i}"


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return data_frame({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def tool_delta(index: int, arguments: str, **first: Any) -> dict[str, Any]:
    function = {"arguments": arguments, **({"name": first["name"]} if first else {})}
    call_delta = {"index": index, "function": function, **({"id": first["id"], "type": "function"} if first else {})}
    return {"tool_calls": [call_delta]}


def test_reasoning_then_text_then_two_tool_calls_each_closed_before_the_next_opens():
    out = events(run([
        chunk({"role": "assistant", "reasoning_content": "Hmm"}), chunk({"reasoning_content": "."}),
        chunk({"content": "Let me look."}),
        chunk(tool_delta(0, '{"a"', id="call_a", name="f")), chunk(tool_delta(0, ":1}")),
        chunk(tool_delta(1, "{}", id="call_b", name="g")), chunk({}, "tool_calls"), DONE_FRAME]))
    opened = [(e["type"], e["output_index"]) for e in out if e["type"].startswith("response.output_item.")]
    assert opened == [("response.output_item.added", 0), ("response.output_item.done", 0),
                      ("response.output_item.added", 1), ("response.output_item.done", 1),
                      ("response.output_item.added", 2), ("response.output_item.done", 2),
                      ("response.output_item.added", 3), ("response.output_item.done", 3)]
    assert [e["type"] for e in out if "reasoning" in e["type"]] == [
        "response.reasoning_text.delta", "response.reasoning_text.delta", "response.reasoning_text.done"]
    output = out[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call", "function_call"]
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "Hmm."}]
    assert [(i["call_id"], i["name"], i["arguments"]) for i in output[2:]] == [("call_a", "f", '{"a":1}'),
                                                                              ("call_b", "g", "{}")]


def test_a_length_finish_is_response_incomplete():
    out = events(run([chunk({"content": "Once"}), chunk({}, "length"), DONE_FRAME]))
    assert out[-1]["type"] == "response.incomplete"
    assert out[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out[-1]["response"]["output"][0]["status"] == "incomplete"


def test_a_refusal_streams_as_refusal_events():
    out = events(run([chunk({"refusal": "I can't"}), chunk({"refusal": " help."}), chunk({}, "stop"), DONE_FRAME]))
    types = [e["type"] for e in out]
    assert types.count("response.refusal.delta") == 2 and "response.refusal.done" in types
    assert out[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


def test_the_failure_frame_carries_the_streams_id_the_next_number_and_what_was_said():
    c = call()
    d = decoder(c)
    data = recording("openai_chat_stream.sse")
    frames = d.feed(data[:data.index(b" a time")])  # up to "upon": an open message item
    sent = events(frames)
    failed = events([d.error_frame(UpstreamTimeout("provider 'openai' sent nothing for 1 s"))])
    assert [e["type"] for e in failed] == ["response.failed"]
    assert failed[0]["sequence_number"] == sent[-1]["sequence_number"] + 1
    response = failed[0]["response"]
    assert response["id"] == sent[0]["response"]["id"] and response["status"] == "failed"
    assert response["error"] == {"code": "server_error", "message": "provider 'openai' sent nothing for 1 s"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "Once upon"


def test_a_rate_limit_failure_has_openais_rate_limit_code():
    from bifrost_proxy.errors import RateLimited

    d = decoder(call())
    d.feed(chunk({"content": "x"}))
    (failed,) = events([d.error_frame(RateLimited("slow down"))])
    assert failed["response"]["error"]["code"] == "rate_limit_exceeded"


def test_a_cut_stream_raises_and_closes_nothing():
    d = decoder(call())
    d.feed(chunk({"content": "Once"}))
    with pytest.raises(UpstreamError) as caught:
        d.finish()
    assert caught.value.code == "stream_incomplete"


@pytest.mark.parametrize("frames", [
    [chunk(tool_delta(0, "{", id="a", name="f")), chunk({"content": "x"}), chunk(tool_delta(0, "}"))],
    [b'data: ["not", "an", "object"]\n\n'],
])
def test_malformed_chunks_are_upstream_errors(frames):
    d = decoder(call())
    with pytest.raises(UpstreamError) as caught:
        for frame in frames:
            d.feed(frame)
    assert caught.value.code == "malformed_upstream_event"


def test_an_empty_stream_still_opens_and_completes():
    out = events(run([DONE_FRAME]))
    assert [e["type"] for e in out] == ["response.created", "response.in_progress", "response.completed"]
    assert out[-1]["response"]["output"] == []


def test_odd_values_from_a_compatible_upstream_do_not_break_the_translation():
    out = events(run([
        data_frame({"choices": [{"delta": {"tool_calls": [{"index": [0], "id": "c", "function": {"name": "f",
                                                                                               "arguments": "{}"}}]},
                                 "finish_reason": ["stop"]}]}),
        data_frame({"choices": [{"delta": "text?", "finish_reason": None}]}), DONE_FRAME]))
    assert out[-1]["type"] == "response.completed" and out[-1]["response"]["output"][0]["call_id"] == "c"
