"""Failing provider keys are routed around, never answered for from memory; Retry-After is honoured (issue 11).

Against the fault-injecting fake (tests/fakes/faults.py) over real sockets, with exact upstream call counts.
Waits the upstream asked for are proven by when the fake saw each call (lower bounds: the rule is "no
sooner"); "at once" is an upper bound far below the wait it rules out.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Callable

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import FakeAnthropic, Reply as AnthropicReply
from tests.fakes.faults import Fault, FaultyOpenAI

SECRET = {"a": TEST_SECRETS[0], "b": TEST_SECRETS[1], "c": TEST_SECRETS[2]}
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
FAST_BACKOFF = {"retry_backoff_initial": 1, "retry_backoff_max": 5}  # ms
REFUSED = Fault(status=401, error_type="invalid_request_error", error_code="invalid_api_key",
                error_message="Incorrect API key provided")
NO_SUCH_MODEL = Fault(status=404, error_type="invalid_request_error", error_code="model_not_found",
                      error_message="The model `gpt-4o` does not exist or you do not have access to it.")


def provider(base_url: str, keys: dict[str, float], **network: Any) -> dict[str, Any]:
    return {"keys": [{"name": n, "value": SECRET[n], "weight": w} for n, w in keys.items()],
            "network_config": {"base_url": base_url, **FAST_BACKOFF, **network}}


def config(base_url: str, keys: dict[str, float] | None = None, **network: Any) -> dict[str, Any]:
    return {"providers": {"openai": provider(base_url, keys or {"a": 1.0}, **network)}}


def with_backup(base_url: str, **network: Any) -> dict[str, Any]:
    cfg = config(base_url, **network)
    cfg["providers"]["backup"] = {"type": "openai", **provider(base_url, {"b": 1.0}, **network)}
    return cfg


@pytest.fixture
async def faulty(serve_app) -> FaultyOpenAI:
    fake = FaultyOpenAI()
    fake.base_url = await serve_app(fake.app)
    return fake


async def post(http, base: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        return resp.status, dict(resp.headers), orjson.loads(await resp.read())


async def cooldowns(http, base: str) -> dict[tuple[str, str], float]:
    """``bifrost_key_cooldowns`` of provider openai by (key, reason)."""
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return {(s.labels["key"], s.labels["reason"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "bifrost_key_cooldowns" and s.labels["provider"] == "openai"}


def access_lines(caplog) -> list[dict[str, Any]]:
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "bifrost_proxy.access"]
    return [line for line in lines if line["route"] == "/v1/chat/completions"]


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.005)
    return result


# ---------------------------------------------------------------- refusals


async def test_a_lone_key_refused_once_is_asked_again_and_serves_once_healthy(gateway, faulty, http):
    faulty.script(SECRET["a"], REFUSED)  # an expired token, rotated upstream a moment later
    base = await gateway(config(faulty.base_url))
    status, _, body = await post(http, base, CHAT)
    assert status == 401 and "refused every eligible key (a)" in body["error"]["message"]
    assert (await cooldowns(http, base))[("a", "refused")] == 1
    status, headers, _ = await post(http, base, CHAT)  # within the cooldown: asked upstream, not from memory
    assert status == 200 and headers["x-bifrost-attempts"] == "1"
    assert faulty.count(SECRET["a"]) == 2
    assert (await cooldowns(http, base))[("a", "refused")] == 0  # it answered: no longer cooling


async def test_a_lone_key_refused_every_time_is_asked_every_time(gateway, faulty, http):
    faulty.always(SECRET["a"], REFUSED)
    base = await gateway(config(faulty.base_url))
    for _ in range(3):
        status, _, body = await post(http, base, CHAT)
        assert status == 401 and body["error"]["message"].endswith("Incorrect API key provided")
        assert body["error"]["code"] == "invalid_api_key"  # the upstream's answer, not one from memory
    assert faulty.count() == 3


async def test_of_two_keys_the_refused_one_is_left_alone_while_cooling_and_the_log_says_so(gateway, faulty, http,
                                                                                          caplog):
    faulty.always(SECRET["a"], REFUSED)
    base = await gateway(config(faulty.base_url, {"a": 1000.0, "b": 1.0}))
    for i in range(6):
        status, headers, _ = await post(http, base, {**CHAT, "user": f"r{i}"})
        assert status == 200 and headers["x-bifrost-attempts"] == ("2" if i == 0 else "1")
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 6})
    lines = await until(lambda: len(access_lines(caplog)) == 6 and access_lines(caplog))
    assert [line.get("routed_around") for line in lines] == [None] + [["a"]] * 5
    assert all(line["key"] == "b" for line in lines)
    got = await cooldowns(http, base)
    assert got[("a", "refused")] == 1 and got[("b", "refused")] == 0


async def test_a_model_refused_on_one_key_leaves_its_other_models_served(gateway, faulty, http, caplog):
    faulty.always_for_model(SECRET["a"], "gpt-4o", NO_SUCH_MODEL)
    base = await gateway(config(faulty.base_url, {"a": 1000.0, "b": 1.0}))
    for _ in range(4):
        status, headers, _ = await post(http, base, {**CHAT, "model": "openai/gpt-4o"})
        assert status == 200 and headers["x-bifrost-provider"] == "openai"
        status, headers, _ = await post(http, base, CHAT)
        assert status == 200 and headers["x-bifrost-attempts"] == "1"
    by_key_and_model = Counter((c.key, c.model) for c in faulty.calls)
    assert by_key_and_model == Counter({(SECRET["a"], "gpt-4o"): 1, (SECRET["b"], "gpt-4o"): 4,
                                        (SECRET["a"], "gpt-4o-mini"): 4})
    got = await cooldowns(http, base)
    assert got[("a", "model_refused")] == 1 and got[("a", "refused")] == 0
    lines = await until(lambda: len(access_lines(caplog)) == 8 and access_lines(caplog))
    assert [line.get("routed_around") for line in lines if line["model"] == "gpt-4o"] == [None] + [["a"]] * 3
    assert all("routed_around" not in line for line in lines if line["model"] == "gpt-4o-mini")


async def test_a_model_refused_by_every_key_is_the_upstreams_404_and_is_asked_again(gateway, faulty, http):
    for name in ("a", "b"):
        faulty.always_for_model(SECRET[name], "gpt-4o", NO_SUCH_MODEL)
    base = await gateway(config(faulty.base_url, {"a": 1.0, "b": 1.0}))
    for _ in range(2):
        status, headers, body = await post(http, base, {**CHAT, "model": "openai/gpt-4o"})
        assert status == 404 and headers["x-bifrost-attempts"] == "2"
        assert body["error"]["code"] == "model_not_found" and "on keys a, b" in body["error"]["message"]
    assert faulty.count() == 4
    status, _, _ = await post(http, base, CHAT)  # the keys' other models are untouched
    assert status == 200


async def test_an_anthropic_model_refusal_on_a_lone_key_is_asked_again_and_other_models_serve(gateway, http,
                                                                                             serve_app):
    fake = FakeAnthropic()
    fake.base_url = await serve_app(fake.app)
    fake.queue("claude-3-opus-20240229", AnthropicReply(status=404, error_type="not_found_error",
                                                        error_message="model: claude-3-opus-20240229"))
    base = await gateway({"providers": {"anthropic": {"keys": [{"name": "c", "value": SECRET["c"]}],
                                                      "network_config": {"base_url": fake.base_url}}}})
    for _ in range(2):
        status, _, body = await post(http, base, {**CHAT, "model": "anthropic/claude-3-opus-20240229"})
        assert status == 404 and body["error"]["message"] == "model: claude-3-opus-20240229"
        status, _, _ = await post(http, base, {**CHAT, "model": "anthropic/claude-3-5-haiku-latest"})
        assert status == 200
    assert [c.body["model"] for c in fake.calls] == ["claude-3-opus-20240229", "claude-3-5-haiku-latest"] * 2


# ---------------------------------------------------------------- Retry-After


RETRY_AFTER_ONE_SECOND = {
    "503 Retry-After": Fault(status=503, retry_after="1"),
    "529 overloaded Retry-After": Fault(status=529, retry_after="1", error_type="overloaded_error"),
    "503 retry-after-ms": Fault(status=503, retry_after_ms="1000"),
    "429 on the only key": Fault(status=429, retry_after="1", error_type="rate_limit_error"),
}


@pytest.mark.parametrize("name", RETRY_AFTER_ONE_SECOND)
async def test_a_retry_comes_no_sooner_than_the_upstream_asked(gateway, faulty, http, name):
    faulty.script(SECRET["a"], RETRY_AFTER_ONE_SECOND[name])
    base = await gateway(config(faulty.base_url, max_retries=1, default_request_timeout_in_seconds=10))
    status, headers, _ = await post(http, base, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "2"
    first, second = faulty.calls
    assert second.at - first.at >= 0.99  # the backoff alone is at most 5 ms


@pytest.mark.parametrize("fault", [Fault(status=503, retry_after="30"),
                                   Fault(status=429, retry_after="30", error_type="rate_limit_error")],
                         ids=["503", "429"])
async def test_a_retry_after_past_the_timeout_goes_to_the_fallback_at_once(gateway, faulty, http, fault):
    faulty.always(SECRET["a"], fault)
    base = await gateway(with_backup(faulty.base_url, max_retries=3, default_request_timeout_in_seconds=3))
    began = time.monotonic()
    status, headers, _ = await post(http, base, {**CHAT, "fallbacks": ["backup/gpt-4o-mini"]})
    assert time.monotonic() - began < 2  # not a sleep into the 3 s timeout; the request itself takes ms
    assert status == 200 and headers["x-bifrost-provider"] == "backup"
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 1})


async def test_a_retry_after_past_the_timeout_without_fallbacks_is_the_upstreams_answer(gateway, faulty, http):
    faulty.always(SECRET["a"], Fault(status=503, retry_after="30", error_message="come back later"))
    base = await gateway(config(faulty.base_url, max_retries=3, default_request_timeout_in_seconds=3))
    status, headers, body = await post(http, base, CHAT)
    assert status == 503 and headers["Retry-After"] == "30" and body["error"]["message"] == "come back later"
    assert faulty.count() == 1
