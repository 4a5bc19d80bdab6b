"""Virtual keys through real sockets: every status, the headers, what reaches the upstream, and the accounting.

The gateway runs with the in-memory store (``tests/fakes/governance_store.FlakyStore``, which can be told
to fail like an unreachable Redis); periods are a day or longer so that no test straddles a reset.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import GOVERNANCE
from bifrost_proxy.config.load import parse_config
from bifrost_proxy.governance.windows import window
from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.governance_store import FlakyStore
from tests.fakes.openai import STREAM, Reply

TEAM_A, TEAM_B, ADMIN = TEST_SECRETS[3], TEST_SECRETS[4], TEST_SECRETS[5]
MESSAGES = [{"role": "user", "content": "Tell me a story"}]
CHAT = {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
USAGE_TOKENS = 21  # the recorded completion and stream: 12 prompt + 9 completion tokens
PRICE = {"openai/gpt-4o-mini": {"input": 1000.0, "output": 2000.0}}  # round numbers: $0.012 + $0.018 a call
CALL_COST = (12 * 1000.0 + 9 * 2000.0) / 1_000_000


def team_a(**fields: Any) -> dict[str, Any]:
    return {"name": "team-a", "value": TEAM_A, **fields}


async def governed(serve_app, fake, keys: list[dict[str, Any]], *, pricing: dict | None = None,
                   providers: dict | None = None, **governance: Any):
    """A gateway with governance on, its keys, and a FlakyStore; returns (base URL, store, app)."""
    config = openai_config(fake.base_url)
    if providers:
        config["providers"].update(providers)
    config["governance"] = {"enabled": True, "store": "memory", "admin_key": ADMIN, "virtual_keys": keys,
                            **governance}
    if pricing:
        config["pricing"] = pricing
    app = make_app(parse_config(config, "<test>", {}))
    store = FlakyStore()
    app[GOVERNANCE].store = store
    return await serve_app(app), store, app


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def eventually(check, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.01)
    return result


@pytest.fixture
async def sdk():
    """The official openai SDK pointed at a gateway with a key; no retries, so each status shows as it is."""
    clients: list[openai.AsyncOpenAI] = []

    def make(base: str, key: str) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_no_key_unknown_key_and_inactive_key_get_401(serve_app, fake_openai, http, sdk):
    base, _, _ = await governed(serve_app, fake_openai, [team_a(), {"name": "team-b", "value": TEAM_B,
                                                                     "is_active": False}])
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 401
        error = (await resp.json())["error"]
    assert error["code"] == "invalid_api_key" and "Authorization: Bearer" in error["message"]
    for key, words in (("sk-not-a-key-of-this-gateway", "unknown or was revoked"), (TEAM_B, "'team-b' is inactive")):
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk(base, key).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
        assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
        assert words in caught.value.message
    async with http.get(f"{base}/v1/models") as resp:
        assert resp.status == 401  # every /v1 route, not only the ones that call a model
    assert fake_openai.calls == []


async def test_health_and_metrics_need_no_key(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    async with http.get(f"{base}/health") as resp:
        assert resp.status == 200
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {TEAM_A}"}, {"x-api-key": TEAM_A}, {"x-goog-api-key": TEAM_A}, {"x-bf-vk": TEAM_A},
])
async def test_every_place_a_client_puts_its_key_is_read_and_never_sent_upstream(serve_app, fake_openai, http,
                                                                                  headers):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=headers) as resp:
        assert resp.status == 200
    seen = fake_openai.calls[-1]
    assert seen.key == TEST_SECRETS[0]  # the provider key, not the virtual one
    assert TEAM_A not in repr(seen.headers) and TEAM_A not in orjson.dumps(seen.body).decode()


async def test_key_in_the_query_string_gemini_style(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a()])
    async with http.post(f"{base}/v1/chat/completions", params={"key": TEAM_A}, json=CHAT) as resp:
        assert resp.status == 200
    assert TEAM_A not in fake_openai.calls[-1].path


async def test_model_outside_the_keys_provider_configs_gets_403(serve_app, fake_openai, http, sdk):
    keys = [team_a(provider_configs=[{"provider": "openai", "allowed_models": ["gpt-4o", "gpt-4.1*"]}],
                   rate_limit={"request_max_limit": 10, "request_reset_duration": "1d"})]
    base, store, _ = await governed(serve_app, fake_openai, keys)
    client = sdk(base, TEAM_A)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "model_not_allowed" and "openai/gpt-4o-mini" in caught.value.message
    ok = await client.chat.completions.create(model="openai/gpt-4.1-mini", messages=MESSAGES)
    assert ok.choices[0].message.content
    assert [c.body["model"] for c in fake_openai.calls] == ["gpt-4.1-mini"]
    assert store.counter("team-a", "requests") == 1  # a refused model is not counted against the key's limits


async def test_provider_not_listed_is_not_allowed_and_fallbacks_it_may_not_use_are_dropped(serve_app, fake_openai,
                                                                                           http):
    keys = [team_a(provider_configs=[{"provider": "openai", "allowed_models": ["gpt-4o-mini", "gpt-4o"]}])]
    providers = {"other": {"type": "openai", "keys": [{"name": "o", "value": TEST_SECRETS[1]}],
                           "network_config": {"base_url": fake_openai.base_url}}}
    base, _, _ = await governed(serve_app, fake_openai, keys, providers=providers)
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "other/gpt-4o-mini"},
                         headers=bearer(TEAM_A)) as resp:
        assert resp.status == 403
    fake_openai.queue("gpt-4o-mini", Reply(status=500))
    body = {**CHAT, "fallbacks": ["other/gpt-4o", "openai/gpt-4o"]}
    async with http.post(f"{base}/v1/chat/completions", json=body, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 200
    # the primary failed, the fallback on a provider the key may not use was skipped, the allowed one served
    assert [(c.key, c.body["model"]) for c in fake_openai.calls] == [(TEST_SECRETS[0], "gpt-4o-mini"),
                                                                     (TEST_SECRETS[0], "gpt-4o")]


async def test_a_key_with_a_budget_may_not_use_an_unpriced_model(serve_app, fake_openai, http):
    base, _, _ = await governed(serve_app, fake_openai, [team_a(budget={"max_limit": 10, "reset_duration": "1M"})])
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "openai/my-finetune"},
                         headers=bearer(TEAM_A)) as resp:
        assert resp.status == 403
        error = (await resp.json())["error"]
    assert error["code"] == "model_not_allowed" and "openai/my-finetune" in error["message"]
    assert "pricing:" in error["message"]
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 200  # the built-in table prices gpt-4o-mini


async def test_request_limit_429_with_retry_after_and_ratelimit_headers(serve_app, fake_openai, http, sdk):
    limit = {"request_max_limit": 2, "request_reset_duration": "1d", "token_max_limit": 1000,
             "token_reset_duration": "1Y"}
    base, store, _ = await governed(serve_app, fake_openai, [team_a(rate_limit=limit)])
    client = sdk(base, TEAM_A)
    raw = await client.chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    headers = raw.headers
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("2", "1")
    assert (headers["x-ratelimit-limit-tokens"], headers["x-ratelimit-remaining-tokens"]) == ("1000", "1000")
    assert headers["x-ratelimit-reset-requests"] and headers["x-ratelimit-reset-tokens"].endswith("s")
    stream = await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True)
    assert [chunk async for chunk in stream]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    error = caught.value
    assert error.code == "rate_limit_exceeded" and "limit of 2 requests per 1d" in error.message
    start, end = window("1d", time.time())
    assert abs(int(error.response.headers["Retry-After"]) - (end - time.time())) <= 2
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_openai.calls) == 2 and store.counter("team-a", "requests") == 2  # the refused one is not counted


async def test_token_limit_refuses_once_the_tokens_are_spent(serve_app, fake_openai, http):
    limit = {"token_max_limit": 30, "token_reset_duration": "1d"}
    base, _, _ = await governed(serve_app, fake_openai, [team_a(rate_limit=limit)])
    statuses, remaining = [], []
    for _ in range(3):
        async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
            statuses.append(resp.status)
            remaining.append(resp.headers["x-ratelimit-remaining-tokens"])
            body = await resp.json()
    assert statuses == [200, 200, 429] and remaining == ["30", "9", "0"]
    assert body["error"]["type"] == "tokens" and "30 tokens per 1d" in body["error"]["message"]


async def test_budget_spent_gets_402_not_429(serve_app, fake_openai, http, sdk):
    budget = {"max_limit": 2.5 * CALL_COST, "reset_duration": "1d"}
    base, store, _ = await governed(serve_app, fake_openai, [team_a(budget=budget)], pricing=PRICE)
    client = sdk(base, TEAM_A)
    for _ in range(3):  # 0, 1x, 2x spent before each: all under 2.5x
        await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 402 and caught.value.code == "budget_exceeded"
    assert "budget of virtual key 'team-a' is spent" in caught.value.message
    assert store.counter("team-a", "cost") == pytest.approx(3 * CALL_COST)
    assert len(fake_openai.calls) == 3


async def test_tokens_and_cost_are_charged_from_usage_streamed_and_not(serve_app, fake_openai, http):
    limits = {"rate_limit": {"token_max_limit": 10_000, "token_reset_duration": "1d"},
              "budget": {"max_limit": 100, "reset_duration": "1M"}}
    base, store, _ = await governed(serve_app, fake_openai, [team_a(**limits)], pricing=PRICE)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 200
    assert store.charges == [("team-a", USAGE_TOKENS, pytest.approx(CALL_COST))]
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(TEAM_A)) as resp:
        body = await resp.read()
    assert body.endswith(b"data: [DONE]\n\n") and b'"usage"' not in body  # the client did not ask for usage
    await eventually(lambda: len(store.charges) == 2)
    assert store.charges[1] == ("team-a", USAGE_TOKENS, pytest.approx(CALL_COST))
    assert store.counter("team-a", "tokens") == 2 * USAGE_TOKENS
    assert store.counter("team-a", "cost") == pytest.approx(2 * CALL_COST)


async def test_a_stream_cut_before_its_usage_is_charged_an_estimate(serve_app, fake_openai, http):
    base, store, _ = await governed(serve_app, fake_openai, [team_a(budget={"max_limit": 100, "reset_duration": "1d"})],
                                    pricing=PRICE)
    fake_openai.queue("gpt-4o-mini", Reply(reset_after=3))  # three events, then the upstream connection drops
    raw = orjson.dumps({**CHAT, "stream": True})
    async with http.post(f"{base}/v1/chat/completions", data=raw, headers={
            **bearer(TEAM_A), "Content-Type": "application/json"}) as resp:
        body = await resp.read()
    assert body.count(b"data: ") == 4 and b"[DONE]" not in body  # three events and the error event
    await eventually(lambda: store.charges)
    tokens_in, tokens_out = len(raw) // 4, 3  # request bytes / 4, one token per event relayed
    assert store.charges == [("team-a", tokens_in + tokens_out,
                              pytest.approx((tokens_in * 1000.0 + tokens_out * 2000.0) / 1e6))]


async def test_a_client_that_leaves_mid_stream_is_charged_for_what_was_relayed(serve_app, fake_openai, http):
    base, store, _ = await governed(serve_app, fake_openai, [team_a(
        rate_limit={"token_max_limit": 10**6, "token_reset_duration": "1d"})])
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=2))
    raw = orjson.dumps({**CHAT, "stream": True})
    resp = await http.post(f"{base}/v1/chat/completions", data=raw,
                           headers={**bearer(TEAM_A), "Content-Type": "application/json"})
    received = b""
    while received.count(b"\n\n") < 2:
        received += await resp.content.readany()
    resp.close()  # the client leaves while the upstream waits
    await eventually(lambda: store.charges)
    fake_openai.gate.set()
    assert received == STREAM[0] + STREAM[1]
    tokens_in = len(raw) // 4  # built-in price of gpt-4o-mini: $0.15 / $0.60 per 1M tokens
    assert store.charges == [("team-a", tokens_in + 2, pytest.approx((tokens_in * 0.15 + 2 * 0.60) / 1e6))]


async def test_store_unavailable_fails_closed_with_503_then_recovers(serve_app, fake_openai, http, sdk):
    limit = {"request_max_limit": 100, "request_reset_duration": "1d"}
    base, store, _ = await governed(serve_app, fake_openai, [team_a(rate_limit=limit)])
    store.down = True
    with pytest.raises(openai.InternalServerError) as caught:
        await sdk(base, TEAM_A).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 503 and caught.value.code == "governance_unavailable"
    assert fake_openai.calls == []  # never served uncounted
    store.down = False
    result = await sdk(base, TEAM_A).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content


async def test_store_down_at_start_answers_503_not_401_until_it_answers(serve_app, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["governance"] = {"enabled": True, "store": "memory", "virtual_keys": [team_a()]}
    app = make_app(parse_config(config, "<test>", {}))
    store = FlakyStore()
    store.down = True
    app[GOVERNANCE].store = store
    base = await serve_app(app)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    store.down = False
    await eventually(lambda: app[GOVERNANCE].loaded)  # the next refresh opens it and loads the keys
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 200


async def test_a_key_made_or_revoked_in_the_store_by_another_process_is_honoured_within_a_second(
        serve_app, fake_openai, http):
    base, store, app = await governed(serve_app, fake_openai, [])
    from bifrost_proxy.governance.keys import hash_value
    from bifrost_proxy.governance.store.base import VirtualKeyRecord

    await store.put_key(VirtualKeyRecord(name="from-cli", value_hash=hash_value(TEAM_B)))  # as `keys create` does
    await eventually(lambda: "from-cli" in app[GOVERNANCE].table.by_name, timeout=1.0)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_B)) as resp:
        assert resp.status == 200
    await store.delete_key("from-cli")
    await eventually(lambda: "from-cli" not in app[GOVERNANCE].table.by_name, timeout=1.0)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_B)) as resp:
        assert resp.status == 401


async def test_governance_off_changes_nothing(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        assert not any(h.startswith("x-ratelimit") for h in resp.headers)
    async with http.get(f"{base}/api/governance/virtual-keys") as resp:
        assert resp.status == 404


async def test_no_key_value_in_logs_or_metrics(serve_app, fake_openai, http, caplog):
    limit = {"request_max_limit": 100, "request_reset_duration": "1d"}
    base, _, _ = await governed(serve_app, fake_openai, [team_a(rate_limit=limit)])
    async with http.post(f"{base}/api/governance/virtual-keys", json={"name": "made"}, headers=bearer(ADMIN)) as resp:
        made = (await resp.json())["virtual_key"]["value"]
    for key in (TEAM_A, made, "sk-wrong-key-value-123456"):
        for headers in (bearer(key), {"x-api-key": key}):
            async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=headers) as resp:
                await resp.read()
        async with http.post(f"{base}/v1/chat/completions", params={"key": key}, json=CHAT) as resp:
            await resp.read()
    async with http.get(f"{base}/metrics") as resp:
        metrics = await resp.text()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "bifrost_requests_total" in metrics and '"status": 200' in logs.replace('"status":200', '"status": 200')
    for secret in (TEAM_A, made, "sk-wrong-key-value-123456", ADMIN):
        assert secret not in metrics and secret not in logs


async def test_audio_transcription_is_governed_too(serve_app, fake_openai, http):
    from tests.fakes.recording import recording

    keys = [team_a(provider_configs=[{"provider": "openai", "allowed_models": ["gpt-4o*"]}])]
    base, store, _ = await governed(serve_app, fake_openai, keys)
    form = aiohttp.FormData()
    form.add_field("model", "openai/whisper-1")
    form.add_field("file", recording("tiny.mp3"), filename="a.mp3", content_type="audio/mpeg")
    async with http.post(f"{base}/v1/audio/transcriptions", data=form, headers=bearer(TEAM_A)) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "model_not_allowed"
    async with http.post(f"{base}/v1/audio/transcriptions", data=aiohttp.FormData({"model": "openai/whisper-1"})) as resp:
        assert resp.status == 401  # no key: refused before the upload is read


async def test_the_dashboard_shows_each_key_its_usage_and_spend_and_its_requests_reach_the_store(
        serve_app, fake_openai, http):
    limits = {"rate_limit": {"request_max_limit": 10, "request_reset_duration": "1d"},
              "budget": {"max_limit": 5, "reset_duration": "1M"}}
    base, store, _ = await governed(serve_app, fake_openai, [team_a(**limits)], pricing=PRICE)
    for _ in range(2):
        async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=bearer(TEAM_A)) as resp:
            assert resp.status == 200
    async with http.get(f"{base}/ui/api/snapshot", headers=bearer(ADMIN)) as resp:
        assert resp.status == 200
        snapshot = await resp.json()
        text = await resp.text()
    [key] = snapshot["virtual_keys"]
    assert key["name"] == "team-a" and key["requests"] == {"used": 2, "limit": 10, "reset": "1d"}
    assert key["budget"]["limit"] == 5 and key["budget"]["used"] == pytest.approx(CALL_COST)  # as of the 2nd admission
    rows = [r for r in snapshot["requests"] if r["route"] == "/v1/chat/completions"]
    assert [(r["virtual_key"], r["cost"]) for r in rows] == [("team-a", pytest.approx(CALL_COST))] * 2
    assert TEAM_A not in text
    stored = await eventually(lambda: [r for r in store.recent if r["route"] == "/v1/chat/completions"])
    assert len(stored) == 2 and {r["virtual_key"] for r in stored} == {"team-a"}  # rows kept across restarts
