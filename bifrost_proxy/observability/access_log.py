"""One structured line and one metrics sample per request, written once, after the response is done.

The line holds the request id, the client's address (behind ``server.trusted_proxies``, the forwarded one),
route, provider, model, key name, status, attempts, duration, time to first byte and tokens, and, when
cooling keys were passed over, their names in ``routed_around``: never a key's value or any prompt content.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import METRICS, OUTCOME, REQUEST_ID, RUNTIME
from bifrost_proxy.lifecycle.forwarded import client_address
from bifrost_proxy.observability.logging import FIELDS
from bifrost_proxy.observability.metrics import token_counts

log = logging.getLogger("bifrost_proxy.access")


def record(request: web.Request, status: int, duration: float, start: float) -> None:
    """The request is done: one metrics sample and one log line. ``duration`` in seconds (perf_counter);
    ``start`` in loop time, like the outcome's first-byte time."""
    outcome = request.get(OUTCOME)
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.observe(request, status, duration, start, outcome)
    if log.isEnabledFor(logging.INFO):
        entry = _entry(request, status, duration, start, outcome)
        # text logs show the JSON line; JSON logs put the fields at the top level (logging.JSONFormatter)
        # makeRecord + handle: the same record log.info() makes, without walking the stack for a caller
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, orjson.dumps(entry).decode(), None,
                                  None, extra={FIELDS: entry}))


def _entry(request: web.Request, status: int, duration: float, start: float, outcome) -> dict[str, Any]:
    trusted = request.app[RUNTIME].current.config.server.trusted_proxies
    entry = {
        "request_id": request.get(REQUEST_ID),
        "client": client_address(request, trusted),
        "method": request.method,
        "route": request.path[:200],
        "status": status,
        "provider": None,
        "model": None,
        "key": None,
        "attempts": 0,
        "duration_ms": round(duration * 1000, 3),
        "ttfb_ms": None,
        "tokens_in": None,
        "tokens_out": None,
    }
    if outcome is not None:
        entry["provider"], entry["model"], entry["key"] = outcome.provider, outcome.model, outcome.key
        entry["attempts"] = outcome.attempts
        if outcome.first_byte_at is not None:
            entry["ttfb_ms"] = round(max(0.0, outcome.first_byte_at - start) * 1000, 3)
        if outcome.usage:
            entry["tokens_in"], entry["tokens_out"] = token_counts(outcome.usage)
        if outcome.routed_around:  # only then: the common line stays as short as it was
            entry["routed_around"] = outcome.routed_around
    return entry
