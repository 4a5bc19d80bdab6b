"""Per-request metrics as plain counters, turned into Prometheus families only when someone scrapes.

prometheus-client's metric objects take a lock and a value object per ``inc``/``observe`` (and a label
lookup per ``labels()``): five to eight of those per request cost more than the rest of the metrics work.
Here a request adds to integers and floats in a few slotted objects, one per label set; the label space
is bounded (``metrics.py`` says how), so these dicts stay small.

- One process: ``StatsCollector`` builds the counter and histogram families from the totals at scrape time.
- ``--workers N`` (prometheus-client's multiprocess mode, whose values live in per-worker files):
  ``MultiprocessFlusher`` adds what was counted since its last run to prometheus-client metrics, once a
  second and before each scrape, so any worker's ``/metrics`` sums every worker's figures as before.
"""
from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# name, help, labels
REQUESTS = ("bifrost_requests", "Requests answered, by provider, model, route and status.",
            ("provider", "model", "route", "status"))
DURATION = ("bifrost_request_duration_seconds", "Time from request to the end of the answer.",
            ("provider", "model", "route"))
TTFB = ("bifrost_time_to_first_byte_seconds", "Time from request until the answer's first frame was in hand "
        "(queue and retries included).", ("provider", "model", "route"))
UPSTREAM = ("bifrost_upstream_duration_seconds", "Time from sending the answering upstream request to the end "
            "of its answer.", ("provider", "model"))
TOKENS = ("bifrost_tokens", "Tokens reported by upstreams, by direction (input, output).",
          ("provider", "model", "direction"))
RETRIES = ("bifrost_upstream_retries", "Upstream attempts beyond a request's first (retries, another key, "
           "fallbacks).", ("provider",))
FALLBACKS = ("bifrost_fallbacks", "Requests answered (or failed) by a fallback, counted per fallback step.",
             ("provider",))
ERRORS = ("bifrost_upstream_errors", "Failed upstream attempts, by error code or type.", ("kind",))
COUNTERS = (RETRIES, FALLBACKS, ERRORS)


class Distribution:
    """A histogram's state: observations per bucket (not cumulative; the last is +Inf) and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, value)] += 1  # Prometheus buckets are "less or equal"
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.counts):
            running += count
            out.append((floatToGoString(bound), running))
        return out


class RouteStats:
    """Everything one (provider, model, route, status) label set counts."""

    __slots__ = ("requests", "duration", "ttfb", "tokens_in", "tokens_out")

    def __init__(self) -> None:
        self.requests = 0
        self.duration = Distribution()
        self.ttfb: Distribution | None = None  # made on the first request that had a first byte
        self.tokens_in = 0
        self.tokens_out = 0


class RequestStats:
    """The totals since start: what the request path adds to, and what scrapes read."""

    __slots__ = ("routes", "upstream", "counters")

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str, str, int], RouteStats] = {}
        self.upstream: dict[tuple[str, str], Distribution] = {}
        # per counter family (RETRIES, FALLBACKS, ERRORS): label value -> total
        self.counters: dict[str, dict[str, int]] = {name: {} for name, _, _ in COUNTERS}

    def route(self, provider: str, model: str, route: str, status: int) -> RouteStats:
        key = (provider, model, route, status)
        stats = self.routes.get(key)
        if stats is None:
            stats = self.routes[key] = RouteStats()
        return stats

    def upstream_time(self, provider: str, model: str, seconds: float) -> None:
        key = (provider, model)
        dist = self.upstream.get(key)
        if dist is None:
            dist = self.upstream[key] = Distribution()
        dist.observe(seconds)

    def count(self, family: str, label: str, n: int = 1) -> None:
        values = self.counters[family]
        values[label] = values.get(label, 0) + n


class StatsCollector:
    """One process: the request families, built from ``RequestStats`` when the registry is collected."""

    def __init__(self, stats: RequestStats) -> None:
        self.stats = stats

    def describe(self) -> list:
        return []  # nothing to check against other collectors' names up front

    def collect(self) -> Iterator:
        stats = self.stats
        requests = CounterMetricFamily(*REQUESTS[:2], labels=REQUESTS[2])
        duration = HistogramMetricFamily(*DURATION[:2], labels=DURATION[2])
        ttfb = HistogramMetricFamily(*TTFB[:2], labels=TTFB[2])
        tokens = CounterMetricFamily(*TOKENS[:2], labels=TOKENS[2])
        # histograms and tokens have no status label: sum the label sets that differ only by status
        by_route: dict[tuple[str, str, str], list] = {}
        for (provider, model, route, status), s in list(stats.routes.items()):
            requests.add_metric((provider, model, route, str(status)), s.requests)
            merged = by_route.setdefault((provider, model, route), [Distribution(), None, 0, 0, False])
            _add(merged[0], s.duration)
            if s.ttfb is not None:
                if merged[1] is None:
                    merged[1] = Distribution()
                _add(merged[1], s.ttfb)
            merged[2] += s.tokens_in
            merged[3] += s.tokens_out
            merged[4] = merged[4] or provider != "none"
        for (provider, model, route), (dist, first, tokens_in, tokens_out, served) in by_route.items():
            labels = (provider, model, route)
            duration.add_metric(labels, dist.cumulative(), dist.total)
            if first is not None:
                ttfb.add_metric(labels, first.cumulative(), first.total)
            if served:
                tokens.add_metric((provider, model, "input"), tokens_in)
                tokens.add_metric((provider, model, "output"), tokens_out)
        upstream = HistogramMetricFamily(*UPSTREAM[:2], labels=UPSTREAM[2])
        for labels, dist in list(stats.upstream.items()):
            upstream.add_metric(labels, dist.cumulative(), dist.total)
        yield from (requests, duration, ttfb, upstream, tokens)
        for name, doc, label_names in COUNTERS:
            family = CounterMetricFamily(name, doc, labels=label_names)
            for label, value in list(stats.counters[name].items()):
                family.add_metric((label,), value)
            yield family


def _add(into: Distribution, other: Distribution) -> None:
    counts = into.counts
    for i, n in enumerate(other.counts):
        counts[i] += n
    into.total += other.total


class MultiprocessFlusher:
    """``--workers N``: adds what ``RequestStats`` counted since the last flush to prometheus-client metrics
    (whose values live in the multiprocess directory's files)."""

    def __init__(self, stats: RequestStats, registry: CollectorRegistry) -> None:
        self.stats = stats
        self.requests = Counter(*REQUESTS, registry=registry)
        self.duration = Histogram(*DURATION, buckets=LATENCY_BUCKETS, registry=registry)
        self.ttfb = Histogram(*TTFB, buckets=LATENCY_BUCKETS, registry=registry)
        self.upstream = Histogram(*UPSTREAM, buckets=LATENCY_BUCKETS, registry=registry)
        self.tokens = Counter(*TOKENS, registry=registry)
        self.counters = {spec[0]: Counter(*spec, registry=registry) for spec in COUNTERS}
        self._flushed: dict[object, tuple] = {}  # per stats object: its figures at the last flush
        self._scheduled = False

    def schedule(self) -> None:
        """Flush at the end of this event-loop turn: once for all the requests that ended in it, and before
        anything else can happen (a worker killed after answering has its figures in its file)."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        stats = self.stats
        for (provider, model, route, status), s in list(stats.routes.items()):
            before = self._flushed.get(s)
            if before is not None and before[0] == s.requests:
                continue  # every figure of a label set moves with its request count
            requests, tokens_in, tokens_out = self._delta(s, (s.requests, s.tokens_in, s.tokens_out))
            if requests:
                self.requests.labels(provider, model, route, str(status)).inc(requests)
            self._flush_distribution(s.duration, self.duration.labels(provider, model, route))
            if s.ttfb is not None:
                self._flush_distribution(s.ttfb, self.ttfb.labels(provider, model, route))
            if tokens_in:
                self.tokens.labels(provider, model, "input").inc(tokens_in)
            if tokens_out:
                self.tokens.labels(provider, model, "output").inc(tokens_out)
        for labels, dist in list(stats.upstream.items()):
            self._flush_distribution(dist, self.upstream.labels(*labels))
        for name, values in stats.counters.items():
            for label, value in list(values.items()):
                (delta,) = self._delta((name, label), (value,))
                if delta:
                    self.counters[name].labels(label).inc(delta)

    def _delta(self, owner: object, now: tuple) -> tuple:
        before = self._flushed.get(owner)
        self._flushed[owner] = now
        return now if before is None else tuple(a - b for a, b in zip(now, before))

    def _flush_distribution(self, dist: Distribution, child) -> None:
        *counts, total = self._delta(dist, (*dist.counts, dist.total))
        if not any(counts):
            return
        # prometheus-client has no "observe n times": add to the child's bucket and sum values directly
        # (non-cumulative per bucket, as Histogram.observe does); these attributes are stable since 0.4
        for bucket, n in zip(child._buckets, counts):
            if n:
                bucket.inc(n)
        child._sum.inc(total)
