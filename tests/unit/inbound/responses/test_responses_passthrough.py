"""The Responses passthrough adapter: URLs, auth, untouched bodies, the checked relay, failure frames."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import UpstreamError, UpstreamTimeout
from bifrost_proxy.inbound.responses.passthrough import ADAPTER, ResponsesPassthroughDecoder
from bifrost_proxy.providers.base import Call, Endpoint
from tests.fakes.recording import recording, sse_events

TEXT = recording("openai_responses_text.sse")
SECRET = "sk-unit-test-key"


def provider(name: str, key: dict | None = None, **extra):
    entry = {"keys": [{"name": "k", "value": SECRET, **(key or {})}], **extra}
    p = parse_config({"providers": {name: entry}}, env={}).providers[name]
    return p, p.keys[0]


def call(**native) -> Call:
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "fallbacks": ["anthropic/claude"], "zz_future": 1,
            **native}
    return Call(Endpoint.CHAT, "gpt-4o-mini", {}, stream=bool(native.get("stream")), native_body=body)


@pytest.mark.parametrize("name, extra, url", [
    ("openai", {}, "https://api.openai.com/v1/responses"),
    ("openai", {"network_config": {"base_url": "http://127.0.0.1:9/api/v1"}}, "http://127.0.0.1:9/api/v1/responses"),
    ("my-vllm", {"type": "openai", "network_config": {"base_url": "http://127.0.0.1:8000"}},
     "http://127.0.0.1:8000/v1/responses"),
    ("groq", {}, "https://api.groq.com/openai/v1/responses"),
])
def test_the_url_sits_next_to_chat_completions(name, extra, url):
    p, key = provider(name, **extra)
    request = ADAPTER.build_request(call(), p, key)
    assert (request.method, request.url) == ("POST", url)
    assert request.headers["Authorization"] == "Bearer " + SECRET


@pytest.mark.parametrize("settings, url", [
    ({"endpoint": "https://res.openai.azure.com/"}, "https://res.openai.azure.com/openai/v1/responses"),
    ({"endpoint": "https://res.openai.azure.com", "api_version": "2025-04-01-preview"},
     "https://res.openai.azure.com/openai/responses?api-version=2025-04-01-preview"),
    # a dated GA version (chat's) has no /responses: the v1 API serves it
    ({"endpoint": "https://res.openai.azure.com", "api_version": "2024-10-21"},
     "https://res.openai.azure.com/openai/v1/responses"),
])
def test_azure_urls_and_api_key_header(settings, url):
    p, key = provider("azure", {"azure_key_config": settings})
    request = ADAPTER.build_request(call(), p, key)
    assert request.url == url
    assert request.headers["api-key"] == SECRET and "Authorization" not in request.headers


def test_the_body_is_the_clients_but_for_model_and_gateway_fields():
    p, key = provider("openai", network_config={"extra_headers": {"OpenAI-Organization": "org-1"}})
    request = ADAPTER.build_request(call(stream=True, store=True, tools=[{"type": "web_search"}]), p, key)
    assert orjson.loads(request.body) == {"model": "gpt-4o-mini", "input": "Hi", "zz_future": 1, "stream": True,
                                          "store": True, "tools": [{"type": "web_search"}]}
    assert request.headers["OpenAI-Organization"] == "org-1"
    assert request.headers["Content-Type"] == "application/json"


def test_a_non_stream_answer_is_returned_as_is_with_its_usage_counted():
    c = call()
    body = recording("openai_response.json")
    assert ADAPTER.parse_response(c, {}, body) is body
    assert c.usage == {"prompt_tokens": 36, "completion_tokens": 87, "total_tokens": 123,
                       "prompt_tokens_details": {"cached_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 0}}
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(c, {}, b"<html>")


def test_errors_keep_status_and_message():
    error = ADAPTER.parse_error(call(), 404, {}, b'{"error": {"message": "Response resp_1 not found", '
                                                  b'"type": "invalid_request_error", "param": null, "code": null}}')
    assert (error.status, error.message) == (404, "Response resp_1 not found")


def relay(chunks: list[bytes]) -> tuple[list[bytes], ResponsesPassthroughDecoder]:
    decoder = ResponsesPassthroughDecoder(call(stream=True))
    frames = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
    return frames + decoder.finish(), decoder


def test_the_stream_is_relayed_byte_for_byte_at_every_split():
    for i in range(1, len(TEXT)):
        frames, decoder = relay([TEXT[:i], TEXT[i:]])
        assert b"".join(frames) == TEXT, f"split at byte {i}"
        assert decoder.done
    assert decoder._call.usage["prompt_tokens"] == 37 and decoder._call.usage["completion_tokens"] == 11


def test_a_cut_stream_fails_with_the_upstreams_id_and_the_next_number():
    events = sse_events(TEXT)
    decoder = ResponsesPassthroughDecoder(call(stream=True))
    frames = decoder.feed(b"".join(events[:6]))
    assert frames == events[:6] and not decoder.done
    with pytest.raises(UpstreamError) as caught:
        decoder.finish()
    assert caught.value.code == "stream_incomplete"
    block = decoder.error_frame(UpstreamTimeout("stalled"))
    assert block.startswith(b"event: response.failed\ndata: ")
    failed = orjson.loads(block.split(b"data: ", 1)[1])
    assert failed["sequence_number"] == 6
    assert failed["response"]["id"] == "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
    assert failed["response"]["status"] == "failed" and failed["response"]["output"] == []
    assert failed["response"]["error"] == {"code": "server_error", "message": "stalled"}


def test_garbage_stops_the_relay_after_the_good_events():
    events = sse_events(TEXT)
    decoder = ResponsesPassthroughDecoder(call(stream=True))
    frames = decoder.feed(b"".join(events[:3]) + b"event: response.output_text.delta\ndata: {oops\n\n" + events[3])
    assert frames == events[:3] and decoder.error.code == "malformed_upstream_event"


def test_an_error_event_first_is_an_error_not_a_frame():
    decoder = ResponsesPassthroughDecoder(call(stream=True))
    frames = decoder.feed(b'event: error\ndata: {"type":"error","sequence_number":0,"code":"rate_limit_exceeded",'
                          b'"message":"slow down","param":null}\n\n')
    assert frames == [] and decoder.error.status == 429 and decoder.error.message == "slow down"


def test_a_compatible_servers_done_ends_the_stream():
    frames, decoder = relay([sse_events(TEXT)[0] + b"data: [DONE]\n\n"])
    assert decoder.done and frames[-1] == b"data: [DONE]\n\n"


def test_an_event_with_an_odd_type_is_relayed_not_a_crash():
    odd = b'data: {"type": ["x"], "sequence_number": 0}\n\n'
    frames, decoder = relay([odd, sse_events(TEXT)[-1]])
    assert frames == [odd, sse_events(TEXT)[-1]] and decoder.done
