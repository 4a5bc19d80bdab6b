"""Virtual keys on every inbound API, with the header each SDK sends (issues 12 and 13).

Anthropic's SDK sends ``x-api-key``, google-genai ``x-goog-api-key`` (or ``?key=``), OpenAI's SDKs Bearer.
Each key is read, never reaches the upstream, and its refusals come in the client's own error shape.
"""
from __future__ import annotations

import anthropic
import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.functional.test_governance import ADMIN, TEAM_A, governed, team_a

MESSAGES = [{"role": "user", "content": "Tell me a story"}]
GENAI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me a story"}]}]}
GENAI_PATH = "/genai/v1beta/models/openai/gpt-4o-mini:generateContent"
ONLY_GPT4O = [{"provider": "openai", "allowed_models": ["gpt-4o"]}]


def upstream_never_saw_the_virtual_key(fake) -> None:
    seen = fake.calls[-1]
    assert seen.key == TEST_SECRETS[0]  # the provider's key, not the client's
    assert TEAM_A not in repr(seen.headers) and TEAM_A not in seen.path
    assert TEAM_A not in orjson.dumps(seen.body).decode()


async def test_anthropic_sdk_key_in_x_api_key(serve_app, fake_openai):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=TEAM_A, max_retries=0) as client:
        message = await client.messages.create(model="openai/gpt-4o-mini", max_tokens=64, messages=MESSAGES)
        assert message.content[0].type == "text"
        upstream_never_saw_the_virtual_key(fake_openai)
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key="sk-unknown", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as info:
            await bad.messages.create(model="openai/gpt-4o-mini", max_tokens=64, messages=MESSAGES)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "authentication_error"


async def test_anthropic_model_outside_the_keys_rules_is_403_in_anthropics_shape(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a(provider_configs=ONLY_GPT4O)])
    calls = len(fake_openai.calls)
    async with http.post(f"{base}/anthropic/v1/messages", headers={"x-api-key": TEAM_A},
                         json={"model": "openai/gpt-4o-mini", "max_tokens": 64, "messages": MESSAGES}) as resp:
        body = await resp.json()
    assert resp.status == 403
    assert body["type"] == "error" and body["error"]["type"] == "permission_error"
    assert len(fake_openai.calls) == calls  # refused before any upstream call


@pytest.mark.parametrize("how", ["x-goog-api-key", "query"])
async def test_genai_key_in_its_header_or_the_query(serve_app, fake_openai, http, how):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    headers = {"x-goog-api-key": TEAM_A} if how == "x-goog-api-key" else {}
    params = {"key": TEAM_A} if how == "query" else {}
    async with http.post(f"{base}{GENAI_PATH}", headers=headers, params=params, json=GENAI_BODY) as resp:
        body = await resp.json()
    assert resp.status == 200, body
    assert body["candidates"][0]["content"]["parts"][0]["text"]
    upstream_never_saw_the_virtual_key(fake_openai)


async def test_genai_without_a_key_is_401_in_googles_shape(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    async with http.post(f"{base}{GENAI_PATH}", json=GENAI_BODY) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert body["error"]["code"] == 401 and body["error"]["status"] == "UNAUTHENTICATED"


async def test_responses_sdk_key_as_bearer(serve_app):
    fake = FakeOpenAIResponses()  # "openai" passes /v1/responses through to the upstream's own
    fake.base_url = await serve_app(fake.app)
    base, _, _ = await governed(serve_app, fake, [team_a()])
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=TEAM_A, max_retries=0) as client:
        response = await client.responses.create(model="openai/gpt-4o-mini", input="Tell me a story")
        assert response.output_text
        upstream_never_saw_the_virtual_key(fake)
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=ADMIN + "-not-a-vk", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.responses.create(model="openai/gpt-4o-mini", input="Tell me a story")
