"""Metrics pieces without a server: bounded labels, token counts, and the gauges read from live objects."""
from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.config.schema import KeyConfig
from bifrost_proxy.lifecycle.shutdown import Drain
from bifrost_proxy.observability.metrics import (
    OTHER,
    BoundedLabel,
    Metrics,
    ModelLabels,
    StateGauges,
    named_models,
    token_counts,
)
from bifrost_proxy.routing.runtime import Runtime, RuntimeHolder

CONFIG = {"providers": {
    "openai": {"keys": [
        {"name": "primary", "value": "sk-a", "models": ["gpt-4o-mini", "*"]},
        {"name": "backup", "value": "sk-b", "aliases": {"fast": "gpt-4o-mini-2024-07-18"}},
    ], "fallbacks": {"gpt-4o": ["openai/gpt-4o-mini"]}},
    "anthropic": {"keys": [{"name": "main", "value": "sk-c"}]},
}}


def runtime(config: dict = CONFIG) -> Runtime:
    return Runtime.build(parse_config(config, "<test>", {}))


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_named_models_are_the_configs_names_only():
    rt = runtime()
    assert named_models(rt.providers["openai"].config) == {"gpt-4o-mini", "fast", "gpt-4o-mini-2024-07-18",
                                                          "gpt-4o"}
    assert named_models(rt.providers["anthropic"].config) == frozenset()  # "*" alone names nothing


def test_model_label_is_other_for_names_a_client_made_up():
    rt = runtime()
    labels = ModelLabels()
    assert labels.label(rt, "openai", "gpt-4o-mini") == "gpt-4o-mini"
    assert labels.label(rt, "openai", "gpt-4o-mini-2024-07-18") == "gpt-4o-mini-2024-07-18"
    assert labels.label(rt, "openai", "a-request-id-3f2a9c") == OTHER
    assert labels.label(rt, "anthropic", "claude-3-5-haiku-latest") == OTHER
    assert labels.label(rt, "gone-after-reload", "gpt-4o-mini") == OTHER


def test_model_label_follows_a_reload():
    labels = ModelLabels()
    assert labels.label(runtime(), "anthropic", "claude-3-5-haiku-latest") == OTHER
    reloaded = {"providers": {"anthropic": {"keys": [
        {"name": "main", "value": "sk-c", "models": ["claude-3-5-haiku-latest"]}]}}}
    assert labels.label(runtime(reloaded), "anthropic", "claude-3-5-haiku-latest") == "claude-3-5-haiku-latest"


def test_bounded_label_caps_distinct_values():
    bounded = BoundedLabel(2)
    assert [bounded.label(v) for v in ("a", "b", "c", "a", "b", "d")] == ["a", "b", OTHER, "a", "b", OTHER]
    assert bounded.label("x" * 500) == OTHER
    assert len(BoundedLabel(5).label("y" * 500)) == 64


def test_token_counts_read_chat_and_audio_usage_shapes():
    assert token_counts({"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}) == (12, 30)
    assert token_counts({"input_tokens": 7, "output_tokens": 9}) == (7, 9)
    assert token_counts({"prompt_tokens": 5, "total_tokens": 5}) == (5, 0)  # embeddings
    assert token_counts({"prompt_tokens": "12", "completion_tokens": -1}) == (0, 0)
    assert token_counts(None) == (0, 0)


async def test_state_gauges_are_read_at_scrape_time():
    holder = RuntimeHolder(runtime())
    drain = Drain()
    metrics = Metrics(holder, drain, multiprocess_dir="")
    openai = holder.current.providers["openai"]
    openai.limiter.concurrency = 1
    await openai.limiter.acquire()
    waiter = asyncio.ensure_future(openai.limiter.acquire())
    await asyncio.sleep(0)
    openai.keys.cool_down(openai.config.keys[1], 60, 429)
    openai.keys.cool_down(openai.config.keys[0], 60, 404, model="gpt-4o")
    openai.keys.cool_down(openai.config.keys[0], 60, 404, model="o1")
    drain.streams[waiter] = object()  # type: ignore[assignment]
    got = samples(metrics)
    cooldowns = {(dict(labels)["key"], dict(labels)["reason"]): v for (name, labels), v in got.items()
                 if name == "bifrost_key_cooldowns" and dict(labels)["provider"] == "openai"}
    assert cooldowns == {("primary", "refused"): 0, ("primary", "model_refused"): 2, ("primary", "rate_limited"): 0,
                         ("backup", "refused"): 0, ("backup", "model_refused"): 0, ("backup", "rate_limited"): 1}
    assert got[("bifrost_provider_in_flight", (("provider", "openai"),))] == 1
    assert got[("bifrost_provider_queue_depth", (("provider", "openai"),))] == 1
    assert got[("bifrost_provider_queue_depth", (("provider", "anthropic"),))] == 0
    assert got[("bifrost_key_cooling_down", (("key", "backup"), ("provider", "openai")))] == 1
    assert got[("bifrost_key_cooling_down", (("key", "primary"), ("provider", "openai")))] == 1  # for two models
    assert got[("bifrost_streams_in_flight", ())] == 1
    openai.limiter.release()
    await waiter
    drain.streams.clear()
    got = samples(metrics)
    assert got[("bifrost_provider_queue_depth", (("provider", "openai"),))] == 0
    assert got[("bifrost_streams_in_flight", ())] == 0


def test_no_key_value_reaches_the_metrics():
    holder = RuntimeHolder(runtime())
    body, content_type = Metrics(holder, Drain(), multiprocess_dir="").render()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    assert "primary" in text and "backup" in text
    for key in (k for p in holder.current.providers.values() for k in p.config.keys):
        assert isinstance(key, KeyConfig) and key.value not in text


def test_state_gauges_zero_what_a_reload_removed():
    registry = CollectorRegistry()
    gauges = StateGauges(registry)  # the multiprocess form, which cannot forget a label: it zeroes it
    gauges.refresh([("bifrost_provider_queue_depth", ("openai",), 3.0), ("bifrost_streams_in_flight", (), 2.0)])
    assert registry.get_sample_value("bifrost_provider_queue_depth", {"provider": "openai"}) == 3
    gauges.refresh([("bifrost_streams_in_flight", (), 1.0)])
    assert registry.get_sample_value("bifrost_provider_queue_depth", {"provider": "openai"}) == 0
    assert registry.get_sample_value("bifrost_streams_in_flight") == 1
