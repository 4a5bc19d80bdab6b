"""The dashboard's state panels, read from live objects when a page asks (never on the request path).

- providers: each key serving or cooling (why, until when), calls in flight and waiting, errors by kind;
- virtual keys, when governance is on: usage against rate limits and spend against budget, from
  ``app[GOVERNANCE].snapshot()`` (Bifrost's field names: ``rate_limit.request_current_usage``,
  ``budget.current_usage``, ...). Fields are picked one by one, so a key's value never passes through.
"""
from __future__ import annotations

import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web

from bifrost_proxy.appkeys import GOVERNANCE

if TYPE_CHECKING:
    from bifrost_proxy.routing.keypool import KeyPool
    from bifrost_proxy.routing.runtime import Runtime
    from bifrost_proxy.ui.recorder import Recorder

log = logging.getLogger("bifrost_proxy.ui")

REASONS = {401: "refused (401)", 403: "forbidden (403)", 404: "model not found (404)",
           429: "rate limited (429)", 503: "overloaded (503)", 529: "overloaded (529)"}


def cooling_entries(pool: "KeyPool") -> list[tuple[str, str | None, int | None, float]]:
    """(key name, model or None when the whole key cools, status that cooled it, seconds left)."""
    now = pool.now()
    return [(name, model, c.status, c.until - now) for name, model, c in pool.running()]


def providers_state(runtime: "Runtime", recorder: "Recorder") -> list[dict[str, Any]]:
    wall = time.time()
    providers = []
    for name, provider in runtime.providers.items():
        cooling: dict[str, list[dict[str, Any]]] = {}
        for key_name, model, status, left in cooling_entries(provider.keys):
            cooling.setdefault(key_name, []).append({
                "model": model, "status": status, "reason": REASONS.get(status or 0, f"status {status}"),
                "until": round(wall + left, 3)})
        keys = []
        for key in provider.config.keys:
            entries = cooling.get(key.name, [])
            if not entries:
                state = "serving"
            elif any(e["model"] is None for e in entries):
                state = "cooling"
            else:
                state = "cooling for some models"
            keys.append({"name": key.name, "state": state, "cooling": entries})
        limiter = provider.limiter
        providers.append({"name": name, "type": provider.config.type, "in_flight": limiter.in_flight,
                          "queued": limiter.waiting, "concurrency": limiter.concurrency, "keys": keys,
                          "errors": dict(recorder.errors.get(name, {}))})
    return providers


async def virtual_keys_state(app: web.Application) -> list[dict[str, Any]] | None:
    """None when governance is off; else one entry per virtual key (an error entry if the store fails)."""
    governance = app.get(GOVERNANCE)
    if governance is None:
        return None
    try:
        snapshot = governance.snapshot()
        if inspect.isawaitable(snapshot):
            snapshot = await snapshot
        return [virtual_key(entry) for entry in snapshot]
    except Exception as exc:  # a store that is down must not end the page's stream
        log.warning("dashboard: cannot read the virtual keys: %s", type(exc).__name__)
        return [{"name": None, "error": f"cannot read the virtual keys ({type(exc).__name__})"}]


def virtual_key(entry: Mapping[str, Any]) -> dict[str, Any]:
    rate = entry.get("rate_limit") or {}
    budget = entry.get("budget") or {}
    return {
        "name": entry.get("name"),
        "is_active": entry.get("is_active", True),
        "requests": _limit(rate, "request_current_usage", "request_max_limit", "request_reset_duration"),
        "tokens": _limit(rate, "token_current_usage", "token_max_limit", "token_reset_duration"),
        "budget": _limit(budget, "current_usage", "max_limit", "reset_duration"),
    }


def _limit(data: Mapping[str, Any], used: str, limit: str, reset: str) -> dict[str, Any] | None:
    if data.get(limit) is None and data.get(used) is None:
        return None
    return {"used": _number(data.get(used)), "limit": _number(data.get(limit)), "reset": _text(data.get(reset))}


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value[:32] if isinstance(value, str) else None
