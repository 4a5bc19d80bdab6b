"""The vertex wire type through the gateway, over real sockets: OAuth token exchange and caching, Gemini and
Claude models, embeddings and errors, driven by the openai SDK against FakeGoogle."""
from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import TEST_SECRETS
from tests.fakes.gemini import FakeGoogle, Reply, verify_jwt, vector

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A poem about two cats"}]
PREFIX = "/v1/projects/demo-project/locations/us-central1/publishers"
ACCOUNT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = ACCOUNT_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()


@pytest.fixture
async def fake(serve_app) -> FakeGoogle:
    fake = FakeGoogle(api_keys=(TEST_SECRETS[2],), public_key=ACCOUNT_KEY.public_key())
    fake.base_url = await serve_app(fake.app)
    return fake


def credentials(fake: FakeGoogle, pem: str = PEM) -> dict[str, Any]:
    return {"type": "service_account", "project_id": "demo-project", "private_key_id": "0123abcd",
            "private_key": pem, "client_email": "gateway@demo-project.iam.gserviceaccount.com",
            "client_id": "1234567890", "token_uri": fake.token_uri}


def vertex_config(fake: FakeGoogle, creds: Any = None, as_string: bool = True) -> dict[str, Any]:
    creds = credentials(fake) if creds is None else creds
    return {"providers": {"vertex": {
        "keys": [{"name": "sa", "value": "", "vertex_key_config": {
            "project_id": "demo-project", "region": "us-central1",
            "auth_credentials": orjson.dumps(creds).decode() if as_string else creds}}],
        "network_config": {"base_url": fake.base_url},
    }}}


async def sdk(base: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0)


async def test_token_is_exchanged_once_and_reused(gateway, fake):
    base = await gateway(vertex_config(fake))
    async with await sdk(base) as client:
        answer = await client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES)
        stream = await client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES,
                                                      stream=True, stream_options={"include_usage": True})
        chunks = [c async for c in stream]
    assert answer.choices[0].message.content.startswith("Two cats") and answer.model == "gemini-2.5-flash"
    assert chunks[-1].usage.total_tokens == 78
    assert len(fake.token_calls) == 1
    claims = verify_jwt(fake.token_calls[0]["assertion"], ACCOUNT_KEY.public_key())
    assert claims["iss"] == "gateway@demo-project.iam.gserviceaccount.com" and claims["aud"] == fake.token_uri
    assert [c.path for c in fake.calls] == [f"{PREFIX}/google/models/gemini-2.5-flash:generateContent",
                                            f"{PREFIX}/google/models/gemini-2.5-flash:streamGenerateContent"]
    assert {c.headers["Authorization"] for c in fake.calls} == {"Bearer ya29.fake-access-token-1"}
    assert fake.calls[0].body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


async def test_concurrent_requests_share_one_token_exchange(gateway, fake):
    base = await gateway(vertex_config(fake, as_string=False))  # the key file as a YAML mapping
    async with await sdk(base) as client:
        answers = await asyncio.gather(*[
            client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES) for _ in range(4)])
    assert all(a.choices[0].finish_reason == "stop" for a in answers)
    assert len(fake.token_calls) == 1 and len(fake.calls) == 4


async def test_a_short_lived_token_is_refreshed(gateway, fake):
    fake.expires_in = 60  # inside the refresh margin: every request needs a fresh token
    base = await gateway(vertex_config(fake))
    async with await sdk(base) as client:
        for _ in range(2):
            await client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES)
    assert len(fake.token_calls) == 2
    assert [c.headers["Authorization"] for c in fake.calls] == ["Bearer ya29.fake-access-token-1",
                                                                "Bearer ya29.fake-access-token-2"]


async def test_a_refused_service_account_is_a_401_naming_the_key(gateway, fake):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    base = await gateway(vertex_config(fake, credentials(fake, wrong_pem)))
    async with await sdk(base) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            await client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES)
    message = info.value.body["message"]
    assert "(sa)" in message and "invalid_grant" in message and "PRIVATE KEY" not in message
    assert not fake.calls  # nothing reached Vertex without a token


async def test_token_endpoint_outage_is_a_503(gateway, fake, http):
    fake.token_reply = (503, {"error": "backend_error"})
    base = await gateway(vertex_config(fake))
    body = {"model": "vertex/gemini-2.5-flash", "messages": MESSAGES}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 503
        assert "token endpoint" in (await resp.json())["error"]["message"]


async def test_claude_on_vertex(gateway, fake):
    base = await gateway(vertex_config(fake))
    model = "claude-3-7-sonnet@20250219"
    async with await sdk(base) as client:
        answer = await client.chat.completions.create(model=f"vertex/{model}", messages=MESSAGES, max_tokens=300)
        stream = await client.chat.completions.create(model=f"vertex/{model}", messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
    assert answer.choices[0].message.content == "Hi! My name is Claude."
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    raw, streamed = fake.calls
    assert raw.path == f"{PREFIX}/anthropic/models/{model}:rawPredict"
    assert streamed.path == f"{PREFIX}/anthropic/models/{model}:streamRawPredict"
    assert raw.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in raw.body
    assert raw.body["max_tokens"] == 300 and streamed.body["stream"] is True
    assert raw.headers["Authorization"] == streamed.headers["Authorization"] == "Bearer ya29.fake-access-token-1"
    assert len(fake.token_calls) == 1


async def test_claude_errors_in_either_shape(gateway, fake):
    model = "claude-3-7-sonnet@20250219"
    fake.queue(model, Reply(status=400, error_body=orjson.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}})),
        Reply(status=429, error_status="RESOURCE_EXHAUSTED", error_message="Quota exceeded", retry_delay="3s"))
    base = await gateway(vertex_config(fake))
    async with await sdk(base) as client:
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(model=f"vertex/{model}", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model=f"vertex/{model}", messages=MESSAGES)
    assert bad.value.body["message"] == "max_tokens: too large"
    assert limited.value.body["message"] == "Quota exceeded" and limited.value.response.headers["Retry-After"] == "3"


async def test_gemini_errors_on_vertex(gateway, fake):
    fake.queue("gemini-2.5-pro", Reply(status=404, error_status="NOT_FOUND",
                                       error_message="Publisher Model gemini-2.5-pro was not found"))
    base = await gateway(vertex_config(fake))
    async with await sdk(base) as client:
        with pytest.raises(openai.NotFoundError) as info:
            await client.chat.completions.create(model="vertex/gemini-2.5-pro", messages=MESSAGES)
    assert "was not found" in info.value.message


async def test_embeddings_on_vertex(gateway, fake):
    base = await gateway(vertex_config(fake))
    async with await sdk(base) as client:
        answer = await client.embeddings.create(model="vertex/text-embedding-005", input=["one two", "three"],
                                                dimensions=3)
    assert [d.embedding for d in answer.data] == [vector("one two"), vector("three")]
    assert answer.usage.prompt_tokens == 3
    (seen,) = fake.calls
    assert seen.path == f"{PREFIX}/google/models/text-embedding-005:predict"
    assert seen.body == {"instances": [{"content": "one two"}, {"content": "three"}],
                         "parameters": {"outputDimensionality": 3}}


async def test_express_mode_api_key(gateway, fake):
    config = {"providers": {"vertex": {"keys": [{"name": "express", "value": TEST_SECRETS[2]}],
                                       "network_config": {"base_url": fake.base_url}}}}
    base = await gateway(config)
    async with await sdk(base) as client:
        answer = await client.chat.completions.create(model="vertex/gemini-2.5-flash", messages=MESSAGES)
    assert answer.choices[0].message.content.startswith("Two cats")
    (seen,) = fake.calls
    assert seen.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == TEST_SECRETS[2] and "Authorization" not in seen.headers
    assert not fake.token_calls
