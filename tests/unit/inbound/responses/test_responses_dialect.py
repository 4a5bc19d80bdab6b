"""Which providers get Responses requests passed through, the option that says so, and the error shape."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.config.load import ConfigError, parse_config
from bifrost_proxy.errors import RateLimited
from bifrost_proxy.inbound.responses import passthrough
from bifrost_proxy.inbound.responses.dialect import DIALECT, speaks_responses


def provider(name: str, **extra):
    entry = {"keys": [{"name": "k", "value": "sk-unit-test-key"}],
             "network_config": {"base_url": "http://127.0.0.1:9"}, **extra}
    return parse_config({"providers": {name: entry}}, env={}).providers[name]


@pytest.mark.parametrize("name, extra, native", [
    ("openai", {}, True),
    ("azure", {}, True),
    ("groq", {}, False),
    ("ollama", {}, False),
    ("local-vllm", {"type": "openai"}, False),
    ("local-vllm", {"type": "openai", "options": {"responses_api": "native"}}, True),
    ("openai", {"options": {"responses_api": "translate"}}, False),
    ("anthropic", {}, False),
])
def test_who_speaks_the_responses_api(name, extra, native):
    p = provider(name, **extra)
    assert speaks_responses(p) is native
    assert (DIALECT.passthrough_adapter(p) is passthrough.ADAPTER) is native


@pytest.mark.parametrize("value", ["yes", True, 1])
def test_responses_api_accepts_native_or_translate_only(value):
    with pytest.raises(ConfigError) as caught:
        provider("openai", options={"responses_api": value})
    assert "providers.openai.options.responses_api: must be 'native' or 'translate'" in str(caught.value)


def test_errors_before_a_start_are_openais_error_body():
    status, body = DIALECT.error_response(RateLimited("slow down", code="keys_cooling_down"))
    assert status == 429
    assert orjson.loads(body) == {"error": {"message": "slow down", "type": "rate_limit_error",
                                            "code": "keys_cooling_down", "param": None}}


def test_the_stateless_failure_frame_is_a_response_failed():
    frame = DIALECT.stream_error_frame(RateLimited("slow down"))
    assert frame.startswith(b"event: response.failed\ndata: ")
    event = orjson.loads(frame.split(b"data: ", 1)[1])
    assert event["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
