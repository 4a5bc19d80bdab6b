"""Every error row of the contract, answered in its JSON shape with the right status."""
from __future__ import annotations

import socket

import pytest

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import Reply

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def assert_shape(body: dict) -> dict:
    error = body["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("payload, status, param", [
    (b"{not json", 400, None),
    (b"", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    (b'{"model": "openai/gpt-4o-mini"}', 400, "messages"),
    (b'{"model": "openai/gpt-4o-mini", "messages": "hi"}', 400, "messages"),
    (b'{"model": 5, "messages": [{"role": "user"}]}', 400, "model"),
    (b'{"model": "openai/x", "messages": [{"role": "user"}], "stream": "yes"}', 400, "stream"),
    (b'{"model": "nope/x", "messages": [{"role": "user"}]}', 404, "model"),
    (b'{"model": "openai/x", "messages": [{"role": "user"}], "fallbacks": "anthropic/y"}', 400, "fallbacks"),
])
async def test_bad_requests(gateway, fake_openai, http, payload, status, param):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", data=payload,
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        error = assert_shape(await resp.json())
    assert error["param"] == param
    assert not fake_openai.calls


async def test_unknown_route_and_method(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/nope", json={}) as resp:
        assert resp.status == 404
        assert assert_shape(await resp.json())["code"] == "unknown_route"
    async with http.get(f"{base}/v1/chat/completions") as resp:
        assert resp.status == 405
        assert_shape(await resp.json())


async def test_body_over_limit_is_413(gateway, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["client"] = {"max_request_body_size_mb": 0.01}
    base = await gateway(config)
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 20000}]}
    async with http.post(f"{base}/v1/chat/completions", json=big) as resp:
        assert resp.status == 413
        assert assert_shape(await resp.json())["type"] == "invalid_request_error"
    assert not fake_openai.calls


@pytest.mark.parametrize("upstream_status, status, etype", [
    (400, 400, "invalid_request_error"),
    (401, 401, "invalid_request_error"),
    (403, 403, "invalid_request_error"),
    (404, 404, "invalid_request_error"),
    (429, 429, "invalid_request_error"),
    (500, 500, "api_error"),
    (503, 503, "api_error"),
])
async def test_upstream_errors_keep_status_and_message(gateway, fake_openai, http, upstream_status, status, etype):
    fake_openai.queue("gpt-4o-mini", Reply(status=upstream_status, error_message="upstream says no",
                                           error_type="invalid_request_error", headers={"Retry-After": "7"}))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == status
        error = assert_shape(await resp.json())
        text = await resp.text()
    assert "upstream says no" in error["message"]
    if status < 500:
        assert error["type"] == etype
    for secret in TEST_SECRETS:
        assert secret not in text


async def test_refused_key_names_the_key_never_its_value(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(status=401, error_message="Incorrect API key provided"))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 401
        text = await resp.text()
    assert "primary" in text and TEST_SECRETS[0] not in text


async def test_unreachable_upstream_is_502(gateway, http):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        base = await gateway(openai_config(f"http://127.0.0.1:{port}"))
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 502
            assert assert_shape(await resp.json())["code"] == "upstream_unreachable"


async def test_malformed_upstream_json_is_502(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(body=b"{oops"))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 502
        assert assert_shape(await resp.json())["code"] == "malformed_upstream_response"


async def test_error_event_as_first_stream_event_is_a_status(gateway, fake_openai, http):
    error_event = b'data: {"error": {"message": "rate limited", "type": "rate_limit_error", "code": null}}\n\n'
    fake_openai.queue("gpt-4o-mini", Reply(events=[error_event]))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 429
        assert assert_shape(await resp.json())["message"] == "rate limited"


async def test_request_id_is_honoured_or_generated(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.get(f"{base}/health", headers={"X-Request-ID": "abc-123"}) as resp:
        assert resp.headers["X-Request-ID"] == "abc-123"
        assert await resp.json() == {"status": "ok"}
    async with http.post(f"{base}/v1/nope") as resp:
        assert len(resp.headers["X-Request-ID"]) == 32


async def test_a_disabled_provider_says_which_variable_is_missing(gateway, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["providers"]["anthropic"] = {"keys": [{"value": "env.ANTHROPIC_API_KEY", "optional": True}]}
    base = await gateway(config)
    body = {**CHAT, "model": "anthropic/claude-3-5-haiku-latest"}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 404
        error = assert_shape(await resp.json())
    assert error["code"] == "provider_disabled" and "ANTHROPIC_API_KEY" in error["message"]
