"""What the dashboard knows: the last requests in a fixed-size ring and the per-second aggregates.

``Recorder.record`` is called once per finished request by the gateway middleware, after the answer went
out. It keeps one row of metadata (never prompt or answer text, never a key's value) over the oldest slot
of the ring, bumps the counters of the current second and, when there are listeners (the dashboard's live
streams while someone watches, whoever persists rows), hands each of them the row as a dict.

The ring holds each row as a tuple of raw values (``FIELDS`` order): one small allocation per request.
Measured in a running gateway, building a dict of 18 fields per request and letting the ring hold 2,000 of
them cost about three times as much (memory the caches no longer hold), so dicts are built only for
listeners and readers, and the rounding to milliseconds happens there too.
No lock (one event loop), no I/O.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from aiohttp import web

from bifrost_proxy.appkeys import COST_USD, OUTCOME, REQUEST_ID, VIRTUAL_KEY
from bifrost_proxy.observability.metrics import token_counts
from bifrost_proxy.ui.series import Series

if TYPE_CHECKING:
    from bifrost_proxy.routing.outcome import Outcome

log = logging.getLogger("bifrost_proxy.ui")

RECENT_REQUESTS = 2000  # rows kept in memory: the page shows them all, newest first
MAX_ERROR_KINDS = 64  # per provider: error codes come from upstreams, so their variety is capped
MAX_ROUTE_LENGTH = 200
# the dashboard's own requests and the probes of monitoring systems are not traffic worth charting
UNRECORDED = ("/ui", "/health", "/metrics")

Row = dict[str, Any]
Listener = Callable[[Row], None]
# a row as the ring keeps it: seconds, not milliseconds, and nothing rounded yet
FIELDS = ("time", "request_id", "method", "route", "status", "provider", "model", "key", "virtual_key",
          "attempts", "fallbacks", "errors", "stream", "ttfb_ms", "duration_ms", "tokens_in", "tokens_out", "cost")
NO_FAILURES: tuple[()] = ()


def as_row(raw: tuple) -> Row:
    """The row as the page, the JSON snapshot and the listeners see it."""
    (now, request_id, method, route, status, provider, model, key, virtual_key, attempts, fallbacks, errors,
     stream, ttfb, duration, tokens_in, tokens_out, cost) = raw
    return {"time": round(now, 3), "request_id": request_id, "method": method, "route": route, "status": status,
            "provider": provider, "model": model, "key": key, "virtual_key": virtual_key, "attempts": attempts,
            "fallbacks": fallbacks, "errors": list(errors), "stream": stream,
            "ttfb_ms": None if ttfb is None else round(ttfb * 1000, 3), "duration_ms": round(duration * 1000, 3),
            "tokens_in": tokens_in, "tokens_out": tokens_out, "cost": cost}


class Recorder:
    """The ring of recent rows and the per-second ``Series`` of one gateway process."""

    __slots__ = ("capacity", "rows", "count", "series", "errors", "listeners", "governed", "broken")

    def __init__(self, capacity: int = RECENT_REQUESTS) -> None:
        self.capacity = capacity
        self.rows: list[tuple | None] = [None] * capacity
        self.count = 0  # rows ever recorded; the next one goes to rows[count % capacity]
        self.series = Series()
        self.errors: dict[str, dict[str, int]] = {}  # provider -> failed attempts by error kind, since start
        # called with every new row, on the request path: keep them cheap (queue the row, never await)
        self.listeners: list[Listener] = []
        # governance is on: rows carry the virtual key and the cost it left on the request (set at startup,
        # so the gateway without governance pays no lookup for them)
        self.governed = False
        self.broken = False  # recording failed once (a bug): logged then, not on every request after

    def record(self, request: web.Request, status: int, duration: float, start: float) -> None:
        """A request is done: ``duration`` in seconds; ``start`` in loop time, as the outcome's times."""
        outcome: Outcome | None = request.get(OUTCOME)
        if outcome is None and request.path.startswith(UNRECORDED):
            return
        try:
            raw = self.add(request, outcome, status, duration, start, time.time())
            if self.listeners:
                row = as_row(raw)
                for listener in self.listeners:
                    listener(row)
        except Exception:  # the dashboard must never cost a request its answer; say so once, not per request
            if not self.broken:
                self.broken = True
                log.exception("dashboard: cannot record a request; the dashboard may be incomplete")

    def add(self, request: web.Request, outcome: "Outcome | None", status: int, duration: float, start: float,
            now: float) -> tuple:
        """Count the request in its second and keep its row in the ring; returns the row (``FIELDS``)."""
        second = int(now)
        virtual_key = cost = None
        if self.governed:
            virtual_key, cost = request.get(VIRTUAL_KEY), request.get(COST_USD)
        route = request.path[:MAX_ROUTE_LENGTH]
        if outcome is None:
            self.series.record(second, status, None, duration, None, 0, 0)
            raw: tuple = (now, request.get(REQUEST_ID), request.method, route, status, None, None, None,
                          virtual_key, 0, 0, NO_FAILURES, False, None, duration, 0, 0, cost)
        else:
            failed = self._failed_attempts(outcome) if outcome.errors else NO_FAILURES
            ttfb = None
            stream = False
            if outcome.first_byte_at is not None:
                ttfb = max(0.0, outcome.first_byte_at - start)
                if outcome.committed:  # a stream: relayed from its first byte until now
                    stream = True
                    self.series.stream(int(now - max(0.0, duration - ttfb)), second)
            tokens_in, tokens_out = token_counts(outcome.usage)
            provider, model = outcome.provider, outcome.model
            self.series.record(second, status, provider, duration, ttfb, tokens_in, tokens_out)
            raw = (now, request.get(REQUEST_ID), request.method, route, status, provider,
                   model[:MAX_ROUTE_LENGTH] if model else model, outcome.key, virtual_key, outcome.attempts,
                   outcome.fallbacks_used, failed, stream, ttfb, duration, tokens_in, tokens_out, cost)
        self.rows[self.count % self.capacity] = raw
        self.count += 1
        return raw

    def _failed_attempts(self, outcome: "Outcome") -> tuple[dict[str, Any], ...]:
        """The failed attempts in order, each counted by kind for its provider (capped per provider)."""
        failed = []
        for kind, (provider, key, status) in zip(outcome.errors, outcome.failed_on):
            kind = kind[:64]
            failed.append({"provider": provider, "key": key, "status": status, "kind": kind})
            counts = self.errors.get(provider)
            if counts is None:
                counts = self.errors[provider] = {}
            if kind in counts:
                counts[kind] += 1
            elif len(counts) < MAX_ERROR_KINDS:
                counts[kind] = 1
            else:
                counts["other"] = counts.get("other", 0) + 1
        return tuple(failed)

    def recent(self, limit: int | None = None) -> list[Row]:
        """The rows in the ring as dicts, newest first (at most ``limit``)."""
        return [as_row(raw) for raw in self._newest_first(limit)]

    def _newest_first(self, limit: int | None) -> Iterator[tuple]:
        held = min(self.count, self.capacity)
        if limit is not None:
            held = min(held, limit)
        for back in range(1, held + 1):
            raw = self.rows[(self.count - back) % self.capacity]
            if raw is not None:
                yield raw
