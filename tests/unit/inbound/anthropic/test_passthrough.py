"""The Anthropic passthrough: the client's body and headers go upstream as sent, the answer comes back as sent."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import RateLimited, UpstreamError, UpstreamUnavailable
from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC
from bifrost_proxy.inbound.anthropic.passthrough import PASSTHROUGH, MessagesPassthroughDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from tests.fakes.recording import recording, sse_events

TEXT = recording("anthropic_text.sse")
TOOLS = recording("anthropic_tool_use.sse")
THINKING = recording("anthropic_thinking.sse")
OVERLOADED = recording("anthropic_overloaded.sse")
NATIVE = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
          "thinking": {"type": "enabled", "budget_tokens": 1024}, "brand_new_field": [1, 2]}


def provider(base_url: str = "https://api.anthropic.com", **extra: Any):
    config = parse_config({"providers": {"anthropic": {"keys": [{"name": "k", "value": "sk-provider"}],
                                                       "network_config": {"base_url": base_url, **extra}}}},
                          "<test>", {})
    pconf = config.providers["anthropic"]
    return pconf, pconf.keys[0]


def call(endpoint: Endpoint = Endpoint.CHAT, flags: dict[str, str] | None = None, stream: bool = False) -> Call:
    return Call(endpoint, "claude-upstream-name", {"model": "anthropic/claude-x"}, stream=stream,
                native_body=dict(NATIVE), flags=dict(flags or {}), dialect=ANTHROPIC)


def test_only_anthropic_providers_are_passed_through():
    pconf, _ = provider()
    assert ANTHROPIC.passthrough_adapter(pconf) is PASSTHROUGH
    openai = parse_config({"providers": {"openai": {"keys": [{"name": "k", "value": "v"}]}}}, "<t>", {})
    assert ANTHROPIC.passthrough_adapter(openai.providers["openai"]) is None
    assert [e for e in Endpoint if PASSTHROUGH.supports(e)] == [Endpoint.CHAT, Endpoint.COUNT_TOKENS]


def test_the_body_goes_as_sent_with_the_upstream_model_and_the_providers_key():
    pconf, key = provider()
    request = PASSTHROUGH.build_request(call(), pconf, key)
    assert (request.method, request.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert orjson.loads(request.body) == {**NATIVE, "model": "claude-upstream-name"}
    assert request.headers == {"anthropic-version": "2023-06-01", "Content-Type": "application/json",
                               "x-api-key": "sk-provider"}


def test_the_clients_version_and_betas_go_along_with_the_configured_ones():
    pconf, key = provider("https://gw.example.com/anthropic/v1",
                          extra_headers={"Anthropic-Beta": "configured-beta", "anthropic-version": "2023-01-01"})
    flags = {"anthropic-version": "2023-06-01", "anthropic-beta": "a-2025, configured-beta,b-2025"}
    request = PASSTHROUGH.build_request(call(Endpoint.COUNT_TOKENS, flags), pconf, key)
    assert request.url == "https://gw.example.com/anthropic/v1/messages/count_tokens"
    assert request.headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "a-2025,configured-beta,b-2025",
                               "Content-Type": "application/json", "x-api-key": "sk-provider"}


def test_answers_are_returned_as_sent_and_usage_is_kept():
    the_call = call()
    body = recording("anthropic_message.json")
    assert PASSTHROUGH.parse_response(the_call, {}, body) is body
    assert the_call.usage["prompt_tokens"] == 2095 and the_call.usage["completion_tokens"] == 503
    counting = call(Endpoint.COUNT_TOKENS)
    assert PASSTHROUGH.parse_response(counting, {}, b'{"input_tokens": 3}') == b'{"input_tokens": 3}'
    assert counting.usage is None
    for bad in (b"<html>", b"[1]"):
        with pytest.raises(UpstreamError):
            PASSTHROUGH.parse_response(call(), {}, bad)


def test_errors_keep_anthropics_status_and_type():
    error = PASSTHROUGH.parse_error(call(), 429, CIMultiDict({"retry-after": "3"}),
                                    b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}')
    assert isinstance(error, RateLimited) and error.retry_after == 3 and error.message == "slow"


def relay(raw: bytes, pieces: list[bytes] | None = None) -> tuple[list[bytes], Call]:
    the_call = call(stream=True)
    decoder = PASSTHROUGH.stream_decoder(the_call)
    frames: list[bytes] = []
    for piece in pieces if pieces is not None else [raw]:
        frames += decoder.feed(piece)
    frames += decoder.finish()
    assert decoder.done
    return frames, the_call


@pytest.mark.parametrize("raw", [TEXT, TOOLS, THINKING], ids=["text", "tools", "thinking"])
def test_streams_pass_event_by_event_at_every_split(raw):
    frames, _ = relay(raw)
    assert frames == sse_events(raw)  # one frame per event, its bytes as framed upstream
    for at in range(1, len(raw)):
        assert relay(raw, [raw[:at], raw[at:]])[0] == frames, at


def test_stream_usage_is_the_latest_of_each_count():
    _, the_call = relay(TEXT)
    assert the_call.usage == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40,
                              "prompt_tokens_details": {"cached_tokens": 0}}


def test_an_error_event_is_held_after_the_events_before_it():
    decoder = MessagesPassthroughDecoder(call(stream=True))
    frames = decoder.feed(OVERLOADED)
    assert frames == sse_events(OVERLOADED)[:3]
    assert isinstance(decoder.error, UpstreamUnavailable) and decoder.error.code == "overloaded_error"
    assert decoder.feed(b"event: ping\ndata: {}\n\n") == []
    with pytest.raises(UpstreamUnavailable):
        decoder.finish()
    assert decoder.error_frame(decoder.error) == \
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'


@pytest.mark.parametrize("raw, code", [
    (TEXT[: TEXT.index(b"event: message_stop")], "stream_incomplete"),
    (b"event: message_start\ndata: {not json\n\n", "malformed_upstream_event"),
    (b"data: [1]\n\n", "malformed_upstream_event"),
])
def test_cut_or_broken_streams_fail(raw, code):
    decoder = MessagesPassthroughDecoder(call(stream=True))
    decoder.feed(raw)
    with pytest.raises(UpstreamError) as info:
        decoder.finish()
    assert info.value.code == code
