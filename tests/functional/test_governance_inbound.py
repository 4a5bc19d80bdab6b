"""Virtual keys on every client API: the Anthropic SDK (``x-api-key``), Google's (``x-goog-api-key``, ``?key=``)
and the Responses API, each refused in its own error shape, counted, and never passed upstream."""
from __future__ import annotations

import anthropic
import pytest

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import GOVERNANCE
from bifrost_proxy.config.load import parse_config
from tests.conftest import TEST_SECRETS
from tests.fakes.genai_gateway import SDK_WARNING, start_fakes
from tests.fakes.governance_store import FlakyStore

TEAM_A, ADMIN = TEST_SECRETS[3], TEST_SECRETS[5]
HELLO = [{"role": "user", "content": "Tell me a story"}]


@pytest.fixture
async def gov(serve_app):
    fakes = await start_fakes(serve_app)
    config = fakes.config(governance={"enabled": True, "store": "memory", "admin_key": ADMIN, "virtual_keys": [{
        "name": "team-a", "value": TEAM_A,
        "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"]}, {"provider": "gemini"}],
        "rate_limit": {"request_max_limit": 100, "request_reset_duration": "1d"}}]})
    app = make_app(parse_config(config, "<test>", {}))
    store = app[GOVERNANCE].store = FlakyStore()
    base = await serve_app(app)
    yield base, fakes, store
    for seen in fakes.upstream_requests():
        assert TEAM_A not in seen  # the virtual key never reaches a provider


async def test_the_anthropic_sdk_sends_its_key_as_x_api_key(gov):
    base, _, store = gov
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=TEAM_A, max_retries=0) as client:
        message = await client.messages.create(model="openai/gpt-4o-mini", max_tokens=50, messages=HELLO)
        assert message.content[0].text
        with pytest.raises(anthropic.PermissionDeniedError) as refused:
            await client.messages.create(model="openai/gpt-4o", max_tokens=50, messages=HELLO)
    assert refused.value.body["error"]["type"] == "permission_error"  # Anthropic's error shape
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key="sk-wrong-0000000000",
                                        max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError) as wrong:
            await client.messages.create(model="openai/gpt-4o-mini", max_tokens=50, messages=HELLO)
    assert wrong.value.body == {"type": "error", "error": {
        "type": "authentication_error", "message": "the virtual key is not valid: it is unknown or was revoked"}}
    assert store.counter("team-a", "requests") == 1


@pytest.mark.parametrize("how", ["header", "query"])
async def test_gemini_clients_send_it_as_x_goog_api_key_or_key(gov, http, how):
    base, fakes, store = gov
    url = f"{base}/genai/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Tell me a story"}]}]}
    ask = {"headers": {"x-goog-api-key": TEAM_A}} if how == "header" else {"params": {"key": TEAM_A}}
    async with http.post(url, json=body, **ask) as resp:
        assert resp.status == 200
        assert resp.headers["x-ratelimit-remaining-requests"] == "99"
    async with http.post(url, json=body, params={"key": "not-a-key-of-ours"}) as resp:
        assert resp.status == 401
        error = (await resp.json())["error"]
    assert error["status"] == "UNAUTHENTICATED" and "virtual key" in error["message"]  # Google's error shape
    assert store.counter("team-a", "requests") == 1


async def test_the_responses_api_is_governed_too(gov, http):
    base, _, store = gov
    body = {"model": "gemini/gemini-2.5-flash", "input": "Tell me a story"}  # translated to Gemini
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
    async with http.post(f"{base}/v1/responses", json=body, headers={"Authorization": f"Bearer {TEAM_A}"}) as resp:
        assert resp.status == 200
    assert store.counter("team-a", "requests") == 1


pytestmark = pytest.mark.filterwarnings(SDK_WARNING)
