"""Plain per-request counters exported at scrape time read exactly as prometheus-client's own metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bifrost_proxy.observability.request_stats import DURATION, LATENCY_BUCKETS, REQUESTS, RETRIES, \
    MultiprocessFlusher, RequestStats, StatsCollector

VALUES = (0.001, 0.005, 0.0051, 0.3, 0.3, 7.0, 900.0)  # bucket edges included: "le" is less or equal


def samples(registry: CollectorRegistry, skip_created: bool = True) -> set:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items())), round(s.value, 9))  # sums: addition order differs
            for family in text_string_to_metric_families(text) for s in family.samples
            if not (skip_created and s.name.endswith("_created"))}


def fill(stats: RequestStats) -> None:
    for i, value in enumerate(VALUES):
        series = stats.route("openai", "gpt-4o-mini", "/v1/chat/completions", 200 if i % 3 else 429)
        series.requests += 1
        series.duration.observe(value)
    stats.count(RETRIES[0], "openai", 2)


def reference() -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter(*REQUESTS, registry=registry)
    duration = Histogram(*DURATION, buckets=LATENCY_BUCKETS, registry=registry)
    retries = Counter(*RETRIES, registry=registry)
    for i, value in enumerate(VALUES):
        requests.labels("openai", "gpt-4o-mini", "/v1/chat/completions", "200" if i % 3 else "429").inc()
        duration.labels("openai", "gpt-4o-mini", "/v1/chat/completions").observe(value)
    retries.labels("openai").inc(2)
    return registry


def test_the_collector_exposes_what_prometheus_client_would():
    stats = RequestStats()
    fill(stats)
    ours = CollectorRegistry()
    ours.register(StatsCollector(stats))
    assert samples(reference()) <= samples(ours)


def test_the_multiprocess_flush_adds_only_what_is_new():
    stats = RequestStats()
    registry = CollectorRegistry()
    flusher = MultiprocessFlusher(stats, registry)
    fill(stats)
    flusher.flush()
    flusher.flush()  # nothing new: nothing added twice
    assert samples(reference()) <= samples(registry)
    fill(stats)
    flusher.flush()
    got = {(name, labels): value for name, labels, value in samples(registry)}
    assert got[("bifrost_request_duration_seconds_count", (("model", "gpt-4o-mini"), ("provider", "openai"),
                                                             ("route", "/v1/chat/completions")))] == 2 * len(VALUES)
    assert got[("bifrost_upstream_retries_total", (("provider", "openai"),))] == 4
