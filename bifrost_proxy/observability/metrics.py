"""Prometheus metrics, recorded once per request by the access-log middleware and served at ``GET /metrics``.

Label values stay bounded: providers and key names come from the config, routes from the router, statuses
are numbers, a model keeps its name only when its provider's config names it (anything else a client sends
to a ``"*"`` key is ``"other"``), and upstream error kinds are capped. State that lives in the routing
objects (queues, cooling keys, streams) is read at scrape time, not counted on the request path.

With ``--workers N`` each worker writes its samples to ``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode, set up by the CLI before this module is imported) and any worker's ``/metrics`` sums
them all; its state gauges are then written once a second instead of read at scrape time.
"""
from __future__ import annotations

import asyncio
import os
import collections
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, NamedTuple

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import GaugeMetricFamily

from bifrost_proxy.appkeys import METRICS
from bifrost_proxy.routing.keypool import REASONS as COOLDOWN_REASONS

if TYPE_CHECKING:
    from bifrost_proxy.config.schema import ProviderConfig
    from bifrost_proxy.lifecycle.shutdown import Drain
    from bifrost_proxy.routing.dispatch import Outcome
    from bifrost_proxy.routing.runtime import Runtime, RuntimeHolder

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
NONE, OTHER, UNMATCHED = "none", "other", "unmatched"
MAX_ERROR_KINDS = 64
STATE_REFRESH_SECONDS = 1.0
# name, help, labels, how workers' values combine in multiprocess mode
STATE = (
    ("bifrost_streams_in_flight", "Streamed responses being relayed now.", (), "livesum"),
    ("bifrost_provider_queue_depth", "Calls waiting for a free place at a provider.", ("provider",), "livesum"),
    ("bifrost_provider_in_flight", "Calls holding a place at a provider.", ("provider",), "livesum"),
    ("bifrost_key_cooling_down", "1 while a key is skipped after a refusal or a rate limit.", ("provider", "key"),
     "livemax"),
    ("bifrost_key_cooldowns", "Cooldowns running for a key, by reason: refused (401/403, every model), "
     "model_refused (403/404 for one model; one per model), rate_limited (429).", ("provider", "key", "reason"),
     "livemax"),
)


class Metrics:
    """The app's metrics: one registry per app, so tests and reloads never collide."""

    def __init__(self, runtime: "RuntimeHolder", drain: "Drain", multiprocess_dir: str | None = None) -> None:
        self.runtime = runtime
        self.drain = drain
        if multiprocess_dir is None:  # "" turns multiprocess mode off whatever the environment says
            multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.multiprocess_dir = multiprocess_dir or None
        self.models = ModelLabels()
        self.error_kinds = BoundedLabel(MAX_ERROR_KINDS)
        r = self.registry = CollectorRegistry()
        request_labels = ("provider", "model", "route")
        self.requests = Counter("bifrost_requests", "Requests answered, by provider, model, route and status.",
                                (*request_labels, "status"), registry=r)
        self.duration = Histogram("bifrost_request_duration_seconds", "Time from request to the end of the answer.",
                                  request_labels, buckets=LATENCY_BUCKETS, registry=r)
        self.ttfb = Histogram("bifrost_time_to_first_byte_seconds",
                              "Time from request until the answer's first frame was in hand (queue and retries "
                              "included).", request_labels, buckets=LATENCY_BUCKETS, registry=r)
        self.upstream = Histogram("bifrost_upstream_duration_seconds",
                                  "Time from sending the answering upstream request to the end of its answer.",
                                  ("provider", "model"), buckets=LATENCY_BUCKETS, registry=r)
        self.retries = Counter("bifrost_upstream_retries", "Upstream attempts beyond a request's first (retries, "
                               "another key, fallbacks).", ("provider",), registry=r)
        self.fallbacks = Counter("bifrost_fallbacks", "Requests answered (or failed) by a fallback, counted per "
                                 "fallback step.", ("provider",), registry=r)
        self.tokens = Counter("bifrost_tokens", "Tokens reported by upstreams, by direction (input, output).",
                              ("provider", "model", "direction"), registry=r)
        self.upstream_errors = Counter("bifrost_upstream_errors", "Failed upstream attempts, by error code or "
                                       "type.", ("kind",), registry=r)
        self.reloads = Counter("bifrost_config_reloads", "Config reloads (SIGHUP), by result.", ("result",),
                               registry=r)
        self._children: dict[tuple[str, str, str, int], RequestSeries] = {}
        self.gauges: StateGauges | None = None
        if self.multiprocess_dir:
            self.gauges = StateGauges(r)
        else:
            r.register(StateCollector(self))

    def observe(self, request: web.Request, status: int, duration: float, start: float,
                outcome: "Outcome | None") -> None:
        """Record one finished request: ``duration`` in seconds; ``start`` in loop time, as the outcome's times."""
        route = route_label(request)
        if outcome is None or not outcome.provider:
            series = self._series(NONE, NONE, route, status)
            series.requests.inc()
            series.duration.observe(duration)
            return
        provider = outcome.provider
        model = self.models.label(self.runtime.current, provider, outcome.model)
        series = self._series(provider, model, route, status)
        series.requests.inc()
        series.duration.observe(duration)
        if outcome.first_byte_at is not None:
            series.ttfb.observe(max(0.0, outcome.first_byte_at - start))
        upstream_start = getattr(outcome, "upstream_started_at", None)
        if upstream_start is not None:  # the answering attempt's start: it ran until the answer's end
            self.upstream.labels(provider, model).observe(max(0.0, start + duration - upstream_start))
        if outcome.attempts > 1:
            self.retries.labels(provider).inc(outcome.attempts - 1)
        if outcome.fallbacks_used:
            self.fallbacks.labels(provider).inc(outcome.fallbacks_used)
        for kind in outcome.errors:
            self.upstream_errors.labels(self.error_kinds.label(kind)).inc()
        tokens_in, tokens_out = token_counts(outcome.usage)
        if tokens_in:
            series.tokens_in.inc(tokens_in)
        if tokens_out:
            series.tokens_out.inc(tokens_out)

    def _series(self, provider: str, model: str, route: str, status: int) -> "RequestSeries":
        # labels() costs a lock and a tuple per call; the label space is bounded, so keep the children
        key = (provider, model, route, status)
        series = self._children.get(key)
        if series is None:
            served = provider != NONE  # no provider, no tokens or first byte: no empty series for them
            series = self._children[key] = RequestSeries(
                self.requests.labels(provider, model, route, str(status)),
                self.duration.labels(provider, model, route),
                self.ttfb.labels(provider, model, route) if served else None,
                self.tokens.labels(provider, model, "input") if served else None,
                self.tokens.labels(provider, model, "output") if served else None)
        return series

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition the scraper asked for (``Accept``: OpenMetrics, else text 0.0.4) and its type."""
        encoder, content_type = choose_encoder(accept)
        if self.gauges is None:
            return encoder(self.registry), content_type
        self.gauges.refresh(state_samples(self.runtime.current, self.drain))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return encoder(registry), content_type


class RequestSeries(NamedTuple):
    """The labelled children one request updates."""

    requests: Any
    duration: Any
    ttfb: Any
    tokens_in: Any
    tokens_out: Any


def token_counts(usage: dict[str, Any] | None) -> tuple[int, int]:
    """(input, output) tokens from an OpenAI-shaped usage object (chat: prompt/completion; audio: input/output)."""
    if not usage:
        return 0, 0
    tokens_in = usage.get("prompt_tokens", usage.get("input_tokens"))
    tokens_out = usage.get("completion_tokens", usage.get("output_tokens"))
    return (tokens_in if type(tokens_in) is int and tokens_in > 0 else 0,
            tokens_out if type(tokens_out) is int and tokens_out > 0 else 0)


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


class ModelLabels:
    """A model keeps its name as a label only when its provider's config names it; else ``"other"``."""

    __slots__ = ("_named",)

    def __init__(self) -> None:
        self._named: dict[str, tuple["ProviderConfig", frozenset[str]]] = {}

    def label(self, runtime: "Runtime", provider: str, model: str | None) -> str:
        if not model:
            return NONE
        served = runtime.providers.get(provider)
        if served is None:
            return OTHER  # removed by a reload while this request ran
        entry = self._named.get(provider)
        if entry is None or entry[0] is not served.config:
            entry = self._named[provider] = (served.config, named_models(served.config))
        return model if model in entry[1] else OTHER


def named_models(provider: "ProviderConfig") -> frozenset[str]:
    names: set[str] = set(provider.fallbacks)
    for key in provider.keys:
        names.update(m for m in key.models if m != "*")
        names.update(key.aliases)
        names.update(key.aliases.values())
    return frozenset(names)


class BoundedLabel:
    """Label values as given until ``limit`` distinct ones were seen; later newcomers are ``"other"``."""

    __slots__ = ("limit", "_seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, value: str) -> str:
        value = value[:64]
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(value)
        return value


def state_samples(runtime: "Runtime", drain: "Drain") -> Iterable[tuple[str, tuple[str, ...], float]]:
    """The gauges read from live objects: (metric name, label values, value)."""
    yield "bifrost_streams_in_flight", (), float(len(drain.streams))
    for name, provider in runtime.providers.items():
        yield "bifrost_provider_queue_depth", (name,), float(provider.limiter.waiting)
        yield "bifrost_provider_in_flight", (name,), float(provider.limiter.in_flight)
        running = collections.Counter((key, reason) for key, reason, _, _ in provider.keys.cooldowns())
        cooling = {key for key, _ in running}
        for key in provider.config.keys:
            yield "bifrost_key_cooling_down", (name, key.name), 1.0 if key.name in cooling else 0.0
            for reason in COOLDOWN_REASONS:  # zeros too: a scrape shows which series exist, all bounded
                yield "bifrost_key_cooldowns", (name, key.name, reason), float(running[(key.name, reason)])


class StateCollector:
    """Single process: the state gauges, read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels, _ in STATE]

    def collect(self) -> list[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels, _ in STATE}
        for name, labels, value in state_samples(self.metrics.runtime.current, self.metrics.drain):
            families[name].add_metric(labels, value)
        return list(families.values())


class StateGauges:
    """Multiprocess: the state gauges as files, rewritten by each worker (``refresh``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauges = {name: Gauge(name, doc, labels, multiprocess_mode=mode, registry=registry)
                       for name, doc, labels, mode in STATE}
        self._last: set[tuple[str, tuple[str, ...]]] = set()

    def refresh(self, samples: Iterable[tuple[str, tuple[str, ...], float]]) -> None:
        current: set[tuple[str, tuple[str, ...]]] = set()
        for name, labels, value in samples:
            gauge = self.gauges[name]
            (gauge.labels(*labels) if labels else gauge).set(value)
            current.add((name, labels))
        for name, labels in self._last - current:  # a provider or key a reload removed: its file entry stays
            self.gauges[name].labels(*labels).set(0.0)
        self._last = current


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: in multiprocess mode, keep this worker's state gauges fresh for other workers' scrapes."""
    metrics = app[METRICS]
    task = asyncio.create_task(_refresh_forever(metrics)) if metrics.gauges is not None else None
    yield
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def _refresh_forever(metrics: Metrics) -> None:
    assert metrics.gauges is not None
    while True:
        metrics.gauges.refresh(state_samples(metrics.runtime.current, metrics.drain))
        await asyncio.sleep(STATE_REFRESH_SECONDS)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text format, or OpenMetrics when the scraper asks for it."""
    body, content_type = request.app[METRICS].render(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
