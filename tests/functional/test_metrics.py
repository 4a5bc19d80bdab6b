"""GET /metrics, the access log line and the shutdown drain, through real sockets against the fake OpenAI."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bifrost_proxy.app import make_app
from bifrost_proxy.config.load import parse_config
from bifrost_proxy.appkeys import DRAIN
from bifrost_proxy.routing.dispatch import Outcome
from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import STREAM, Reply

PROMPT = "Tell me a story about the secret garden"
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
CHAT_URL = "/v1/chat/completions"


def config(base_url: str, **network: Any) -> dict[str, Any]:
    conf = openai_config(base_url, **network)
    conf["providers"]["openai"]["keys"][0]["models"] = ["gpt-4o-mini", "gpt-4o", "*"]  # "*": clients may name anything
    return conf


async def scrape(http, base: str) -> dict[tuple[str, frozenset], float]:
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """The log line and the metrics are written just after the last byte went out: wait for them."""
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.01)
    return result


CHAT_LABELS = {"provider": "openai", "model": "gpt-4o-mini", "route": CHAT_URL}


async def test_a_stream_counts_request_latency_and_tokens_even_unasked(gateway, fake_openai, http):
    base = await gateway(config(fake_openai.base_url))
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 200
        await resp.read()

    async def counted():
        got = await scrape(http, base)
        return got if value(got, "bifrost_requests_total", **CHAT_LABELS, status="200") == 1 else None

    got = await eventually(counted)
    assert value(got, "bifrost_time_to_first_byte_seconds_count", **CHAT_LABELS) == 1
    assert value(got, "bifrost_request_duration_seconds_count", **CHAT_LABELS) == 1
    # the recording's usage chunk: asked for by the gateway, hidden from this client, counted here
    assert value(got, "bifrost_tokens_total", provider="openai", model="gpt-4o-mini", direction="input") == 12
    assert value(got, "bifrost_tokens_total", provider="openai", model="gpt-4o-mini", direction="output") == 9
    assert value(got, "bifrost_streams_in_flight") == 0
    assert value(got, "bifrost_key_cooling_down", provider="openai", key="primary") == 0


async def test_model_names_a_client_made_up_are_not_labels(gateway, fake_openai, http):
    base = await gateway(config(fake_openai.base_url))
    made_up = "req-7f3a9b2c-unique"
    fake_openai.queue(made_up, Reply(status=404, error_message="model not found", error_type="invalid_request_error"))
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "model": f"openai/{made_up}"}) as resp:
        assert resp.status == 404
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "model": "nobody/x"}) as resp:
        assert resp.status == 404

    async def counted():
        got = await scrape(http, base)
        return got if value(got, "bifrost_requests_total", provider="openai", model="other", route=CHAT_URL,
                             status="404") == 1 else None

    got = await eventually(counted)
    assert value(got, "bifrost_requests_total", provider="none", model="none", route=CHAT_URL, status="404") == 1
    async with http.get(f"{base}/metrics") as resp:
        assert made_up not in await resp.text()


async def test_retries_fallbacks_errors_and_cooled_keys(gateway, fake_openai, http):
    base = await gateway(config(fake_openai.base_url, max_retries=1, retry_backoff_initial=1,
                                retry_backoff_max=1))
    fake_openai.queue("gpt-4o-mini", Reply(status=500), Reply())
    async with http.post(f"{base}{CHAT_URL}", json=CHAT) as resp:
        assert resp.status == 200
    fake_openai.queue("gpt-4o", Reply(status=429, headers={"Retry-After": "60"}, error_type="rate_limit_error"))
    body = {**CHAT, "model": "openai/gpt-4o", "fallbacks": ["openai/gpt-4o-mini"]}
    async with http.post(f"{base}{CHAT_URL}", json=body) as resp:
        assert resp.status == 429  # the fallback finds the only key cooling down: the primary's error

    async def counted():
        got = await scrape(http, base)
        return got if value(got, "bifrost_upstream_retries_total", provider="openai") else None

    got = await eventually(counted)
    assert value(got, "bifrost_upstream_retries_total", provider="openai") >= 1
    assert value(got, "bifrost_fallbacks_total", provider="openai") == 1
    kinds = {dict(labels)["kind"]: v for (name, labels), v in got.items() if name == "bifrost_upstream_errors_total"}
    assert sum(kinds.values()) >= 2 and all(len(k) <= 64 for k in kinds)
    assert value(got, "bifrost_key_cooling_down", provider="openai", key="primary") == 1


async def test_streams_in_flight_and_queue_depth_are_live(gateway, fake_openai, http):
    conf = config(fake_openai.base_url)
    conf["providers"]["openai"]["concurrency_and_buffer_size"] = {"concurrency": 1, "buffer_size": 10}
    base = await gateway(conf)
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert first == STREAM[0]
        waiting = asyncio.ensure_future(http.post(f"{base}{CHAT_URL}", json=CHAT))

        async def queued():
            got = await scrape(http, base)
            return got if value(got, "bifrost_provider_queue_depth", provider="openai") == 1 else None

        got = await eventually(queued)
        assert value(got, "bifrost_streams_in_flight") == 1
        assert value(got, "bifrost_provider_in_flight", provider="openai") == 1
        fake_openai.gate.set()
        await resp.read()
    second = await waiting
    assert second.status == 200
    second.release()

    async def idle():
        got = await scrape(http, base)
        return got if value(got, "bifrost_streams_in_flight") == 0 else None

    got = await eventually(idle)
    assert value(got, "bifrost_provider_queue_depth", provider="openai") == 0
    assert value(got, "bifrost_provider_in_flight", provider="openai") == 0


@pytest.mark.skipif("upstream_started_at" not in Outcome.__slots__,
                    reason="needs Outcome.upstream_started_at from routing/dispatch.py (requested from the lead)")
async def test_upstream_latency_is_observed_for_the_answering_attempt(gateway, fake_openai, http):
    base = await gateway(config(fake_openai.base_url))
    async with http.post(f"{base}{CHAT_URL}", json=CHAT) as resp:
        assert resp.status == 200

    async def counted():
        got = await scrape(http, base)
        return got if value(got, "bifrost_upstream_duration_seconds_count", provider="openai",
                            model="gpt-4o-mini") == 1 else None

    await eventually(counted)


def access_lines(caplog) -> list[dict[str, Any]]:
    return [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "bifrost_proxy.access"]


async def test_one_access_line_per_request_with_ttfb_and_tokens(gateway, fake_openai, http, caplog):
    base = await gateway(config(fake_openai.base_url))
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "stream": True},
                         headers={"X-Request-ID": "trace-42", "X-Forwarded-For": "198.51.100.7"}) as resp:
        await resp.read()

    async def logged():
        return [line for line in access_lines(caplog) if line["request_id"] == "trace-42"]

    [line] = await eventually(logged)
    assert line["client"] == "127.0.0.1"  # no trusted proxies configured: the header is not believed
    assert line["route"] == CHAT_URL and line["method"] == "POST" and line["status"] == 200
    assert (line["provider"], line["model"], line["key"], line["attempts"]) == ("openai", "gpt-4o-mini", "primary", 1)
    assert line["tokens_in"] == 12 and line["tokens_out"] == 9
    assert 0 <= line["ttfb_ms"] <= line["duration_ms"]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PROMPT not in text and "secret garden" not in text
    assert not any(secret in text for secret in TEST_SECRETS)


async def test_access_line_names_the_forwarded_client_behind_a_trusted_proxy(gateway, fake_openai, http, caplog):
    conf = config(fake_openai.base_url)
    conf["server"] = {"trusted_proxies": ["127.0.0.0/8"]}
    base = await gateway(conf)
    async with http.get(f"{base}/health", headers={"X-Request-ID": "fwd-1",
                                                   "X-Forwarded-For": "6.6.6.6, 198.51.100.7"}) as resp:
        assert resp.status == 200

    async def logged():
        return [line for line in access_lines(caplog) if line["request_id"] == "fwd-1"]

    [line] = await eventually(logged)
    assert line["client"] == "198.51.100.7"
    assert line["ttfb_ms"] is None and line["tokens_in"] is None


async def test_drain_cuts_a_stream_with_one_error_event_and_a_waiting_call_with_503(serve_app, fake_openai, http):
    app = make_app(parse_config(config(fake_openai.base_url), "<test>", {}))
    base = await serve_app(app)
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    fake_openai.queue("gpt-4o", Reply(hang_before=True))
    async with http.post(f"{base}{CHAT_URL}", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert first == STREAM[0]
        hanging = asyncio.ensure_future(http.post(f"{base}{CHAT_URL}", json={**CHAT, "model": "openai/gpt-4o"}))
        await eventually(lambda: _true(len(fake_openai.calls) == 2))
        assert await app[DRAIN].wait(0.05) == 2
        rest = await asyncio.wait_for(resp.read(), 5)
    error = orjson.loads(rest.removeprefix(b"data: ").strip())["error"]
    assert error["code"] == "server_shutting_down" and rest.count(b"data: ") == 1
    assert b"[DONE]" not in rest
    cut = await hanging
    assert cut.status == 503 and (await cut.json())["error"]["code"] == "server_shutting_down"
    cut.release()
    await eventually(lambda: _true(fake_openai.in_flight == 0))  # the upstream calls were closed too


async def _true(value: bool) -> bool:
    return value


async def test_prometheus_gets_openmetrics_when_it_asks(gateway, fake_openai, http):
    base = await gateway(config(fake_openai.base_url))
    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")  # what Prometheus sends
    async with http.get(f"{base}/metrics", headers={"Accept": accept}) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        text = await resp.text()
    assert text.endswith("# EOF\n") and "bifrost_provider_queue_depth" in text
