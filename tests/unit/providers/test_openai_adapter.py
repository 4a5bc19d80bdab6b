"""The OpenAI passthrough adapter: requests, URLs per service, stream checks, error mapping."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import RateLimited, UpstreamError, UpstreamUnavailable
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.openai import ADAPTER, OpenAIStreamDecoder
from tests.fakes.recording import recording, sse_events

STREAM = recording("openai_chat_stream.sse")


def provider(name: str, **extra):
    config = parse_config({"providers": {name: {"keys": [{"name": "k", "value": "sk-unit-test-key"}], **extra}}},
                          env={})
    p = config.providers[name]
    return p, p.keys[0]


def chat_call(stream: bool = False, **body) -> Call:
    return Call(Endpoint.CHAT, "gpt-4o-mini", {"model": "openai/gpt-4o-mini", "messages": [], "stream": stream,
                                               "fallbacks": ["x/y"], **body}, stream=stream)


@pytest.mark.parametrize("name, url", [
    ("openai", "https://api.openai.com/v1/chat/completions"),
    ("groq", "https://api.groq.com/openai/v1/chat/completions"),
    ("perplexity", "https://api.perplexity.ai/chat/completions"),
    ("openrouter", "https://openrouter.ai/api/v1/chat/completions"),
    ("fireworks", "https://api.fireworks.ai/inference/v1/chat/completions"),
    ("ollama", "http://127.0.0.1:11434/v1/chat/completions"),
])
def test_urls_per_service(name, url):
    p, key = provider(name)
    assert ADAPTER.build_request(chat_call(), p, key).url == url


def test_base_url_that_already_has_a_version_is_kept():
    p, key = provider("openai", network_config={"base_url": "http://127.0.0.1:8000/v1"})
    assert ADAPTER.build_request(chat_call(), p, key).url == "http://127.0.0.1:8000/v1/chat/completions"


def test_azure_deployment_path_and_api_key_header():
    config = parse_config({"providers": {"azure": {"keys": [{"name": "az", "value": "az-secret-value",
        "azure_key_config": {"endpoint": "https://res.openai.azure.com", "api_version": "2024-10-21",
                             "deployments": {"gpt-4o-mini": "my-deployment"}}}]}}}, env={})
    p = config.providers["azure"]
    key = p.keys[0]
    call = chat_call()
    call.model = key.aliases["gpt-4o-mini"]
    req = ADAPTER.build_request(call, p, key)
    assert req.url == ("https://res.openai.azure.com/openai/deployments/my-deployment/chat/completions"
                       "?api-version=2024-10-21")
    assert req.headers["api-key"] == "az-secret-value" and "Authorization" not in req.headers


def test_body_has_upstream_model_and_no_gateway_fields():
    p, key = provider("openai", network_config={"extra_headers": {"X-Team": "a"}})
    req = ADAPTER.build_request(chat_call(), p, key)
    body = orjson.loads(req.body)
    assert body["model"] == "gpt-4o-mini" and "fallbacks" not in body
    assert req.headers["Authorization"] == "Bearer sk-unit-test-key" and req.headers["X-Team"] == "a"


def test_decoder_passes_events_through_and_records_usage():
    call = chat_call(stream=True, stream_options={"include_usage": True})
    decoder = OpenAIStreamDecoder(call)
    frames = decoder.feed(STREAM)
    assert b"".join(frames) == STREAM and decoder.done
    assert call.usage["total_tokens"] == 21


def test_decoder_same_frames_at_every_split():
    whole = b"".join(OpenAIStreamDecoder(chat_call(True)).feed(STREAM))
    for i in range(len(STREAM) + 1):
        decoder = OpenAIStreamDecoder(chat_call(True))
        out = b"".join(decoder.feed(STREAM[:i]) + decoder.feed(STREAM[i:]) + decoder.finish())
        assert out == whole, i


def test_decoder_strips_the_usage_chunk_it_added():
    call = chat_call(stream=True)
    call.flags["usage_added"] = True
    frames = OpenAIStreamDecoder(call).feed(STREAM)
    assert len(frames) == len(sse_events(STREAM)) - 1 and call.usage["total_tokens"] == 21


def test_truncated_stream_fails_at_finish():
    decoder = OpenAIStreamDecoder(chat_call(True))
    decoder.feed(sse_events(STREAM)[0])
    with pytest.raises(UpstreamError, match="before it was complete"):
        decoder.finish()


def test_garbage_keeps_earlier_frames_and_sets_error():
    decoder = OpenAIStreamDecoder(chat_call(True))
    first = sse_events(STREAM)[0]
    assert decoder.feed(first + b"data: nope\n\n") == [first]
    assert isinstance(decoder.error, UpstreamError)


@pytest.mark.parametrize("error, cls", [
    ({"type": "rate_limit_error"}, RateLimited),
    ({"type": "server_error"}, UpstreamUnavailable),
    ({"type": "weird"}, UpstreamError),
])
def test_error_events_are_mapped(error, cls):
    decoder = OpenAIStreamDecoder(chat_call(True))
    decoder.feed(b"data: " + orjson.dumps({"error": {"message": "m", **error}}) + b"\n\n")
    assert isinstance(decoder.error, cls)
