"""``Governance``: the virtual-key rules on the request path (``app[GOVERNANCE]``).

Per request, in this order (README "Teams and keys"):
1. ``authenticate`` (the gateway middleware, for /v1, /anthropic, /genai): the key from the request's
   headers, looked up by hash in memory -> 401 ``invalid_api_key`` when missing, unknown or inactive.
2. ``serve`` (``routing.dispatch``, the one point every call goes through, audio included): the primary
   model must be allowed by the key's ``provider_configs`` (-> 403 ``model_not_allowed``) and, for a key
   with a budget, priced; fallbacks that are not are dropped. Then one ``store.admit`` counts the request
   against every limit at once -> 429 ``rate_limit_exceeded`` or 402 ``budget_exceeded``; a store that
   cannot answer -> 503, never an uncounted call.
3. after the answer (or the client leaving): ``charge`` adds the upstream's token usage and its price; a
   stream cut before its usage arrived is charged an estimate (``estimate``).
The ``x-ratelimit-*`` headers go on every answer of a key with limits (``on_prepare``).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from bifrost_proxy.appkeys import COST_USD, FRAMES_RELAYED, GRANT
from bifrost_proxy.config.schema import Config
from bifrost_proxy.governance.errors import HOW_TO_SEND, BudgetExceeded, InvalidVirtualKey, KeyRateLimited, \
    ModelNotAllowed, StoreDown
from bifrost_proxy.governance.keys import KeyEntry, KeyTable, hash_value, presented_key
from bifrost_proxy.governance.pricing import PriceTable
from bifrost_proxy.governance.shapes import iso
from bifrost_proxy.governance.store.base import GovernanceStore, StoreUnavailable, Window
from bifrost_proxy.governance.windows import WindowClock
from bifrost_proxy.observability.metrics import token_counts

log = logging.getLogger("bifrost_proxy.governance")
BYTES_PER_TOKEN = 4  # the usual estimate for English text; only used when the upstream's count never came
Route = Callable[..., Awaitable[web.StreamResponse]]


class Grant:
    """What governance knows about one request: its key, and what admission said (for the headers)."""

    __slots__ = ("entry", "windows", "used", "response", "now")

    def __init__(self, entry: KeyEntry) -> None:
        self.entry = entry
        self.windows: list[Window] = []
        self.used: tuple[float, ...] = ()
        self.response: web.StreamResponse | None = None  # a streamed answer, to count what it relayed
        self.now = 0.0


class Governance:
    """The rules, the key table and the store of one app. ``sync.py`` keeps the table current."""

    def __init__(self, config: Config, store: GovernanceStore) -> None:
        self.store = store
        self.config = config  # the config these settings came from (a reload swaps in another)
        self.enforcing = config.governance.enabled
        self.admin_key = config.governance.admin_key
        self.prices = PriceTable(config.pricing)
        self.clock = WindowClock()
        self.table = KeyTable([], None)
        self.loaded = False  # False until the keys were read from the store once: unknown keys then get 503
        # key name -> {(metric, period start): counter}, as this process last saw it (dashboard, headers)
        self.seen: dict[str, dict[tuple[str, int], float]] = {}

    async def reload_keys(self) -> None:
        """Read every key from the store into a new table (the refresh loop, and the admin API after a change)."""
        version = await self.store.keys_version()
        self.table = KeyTable(await self.store.load_keys(), version)
        self.loaded = True
        for name in [n for n in self.seen if n not in self.table.by_name]:
            del self.seen[name]

    # --- 1. who is calling ---
    def authenticate(self, request: web.Request) -> None:
        value = presented_key(request)
        if not value:
            raise InvalidVirtualKey("this gateway needs a virtual key: " + HOW_TO_SEND)
        entry = self.table.by_hash.get(hash_value(value))
        if entry is None:
            if not self.loaded:
                raise StoreDown("the gateway cannot check virtual keys yet: its governance store has not "
                                "answered since the start; retry shortly", retry_after=1)
            raise InvalidVirtualKey("the virtual key is not valid: it is unknown or was revoked")
        if not entry.record.is_active:
            raise InvalidVirtualKey(f"the virtual key {entry.name!r} is inactive")
        request[GRANT] = Grant(entry)

    # --- 2. may it, and is there room ---
    async def serve(self, request: web.Request, call: Any, targets: list, outcome: Any, route: Route
                    ) -> web.StreamResponse:
        grant = request[GRANT]
        entry = grant.entry
        targets = self.permitted(entry, targets)
        now = time.time()
        windows = entry.windows(self.clock, now)
        if windows:
            try:
                admission = await self.store.admit(entry.name, windows)
            except StoreUnavailable as exc:
                log.warning("governance store unavailable, refusing %s: %s", request.path[:100], exc)
                raise StoreDown("the gateway cannot count this request against its virtual key's limits right "
                                "now (governance store unavailable); retry shortly", retry_after=1) from None
            grant.windows, grant.used, grant.now = windows, admission.used, now
            self.remember(entry.name, windows, admission.used)
            if admission.refused is not None:
                raise refusal(entry, windows[admission.refused], admission.used[admission.refused], now)
        cut = True  # until the route returns or fails by itself: a cancellation means the client left
        try:
            response = await route(request, call, targets, outcome)
            cut = False
            return response
        except Exception:
            cut = False
            raise
        finally:
            self.charge(grant, call, targets, outcome, request, cut)

    def permitted(self, entry: KeyEntry, targets: list) -> list:
        """The targets this key may use: the primary must be allowed (else 403); fallbacks that are not are
        left out. A key with a budget may only use priced models: its spending could not be counted."""
        primary = targets[0]
        provider, model = primary.provider.config.name, primary.model
        if not entry.allows(provider, model):
            raise ModelNotAllowed(f"the virtual key {entry.name!r} may not use {provider}/{model[:100]}; see its "
                                  "provider_configs", param="model")
        if entry.has_budget and self.prices.price(provider, model) is None:
            raise ModelNotAllowed(f"{provider}/{model[:100]} has no price, and the virtual key {entry.name!r} has a "
                                  "USD budget: add the model to 'pricing:' in the gateway's config", param="model")
        if len(targets) == 1:
            return targets
        return [primary] + [t for t in targets[1:] if entry.allows(t.provider.config.name, t.model) and (
            not entry.has_budget or self.prices.price(t.provider.config.name, t.model) is not None)]

    # --- 3. what it cost ---
    def charge(self, grant: Grant, call: Any, targets: list, outcome: Any, request: web.Request, cut: bool) -> None:
        usage = call.usage
        tokens_in, tokens_out = token_counts(usage)
        if outcome.committed and (cut or not usage):
            tokens_in, tokens_out = estimate(request, call, grant, tokens_in, tokens_out)
        if not tokens_in and not tokens_out:
            return
        price = self.price_of(outcome, targets)
        cost = price.cost(tokens_in, tokens_out) if price is not None else 0.0
        request[COST_USD] = cost  # the dashboard's row
        entry = grant.entry
        windows = entry.windows(self.clock, time.time())
        self.store.charge(entry.name, windows, tokens_in + tokens_out, cost)
        seen = self.seen.setdefault(entry.name, {})
        for w in windows:
            amount = tokens_in + tokens_out if w.metric == "tokens" else cost if w.metric == "cost" else 0
            if amount:
                seen[(w.metric, w.start)] = seen.get((w.metric, w.start), 0.0) + amount

    def price_of(self, outcome: Any, targets: list):
        """The price of the model that answered: by its upstream name, else by the name the client asked for
        (a key's alias or an Azure deployment may rename it on the way)."""
        provider = outcome.provider
        if not provider:
            return None
        price = self.prices.price(provider, outcome.model or "")
        if price is None:
            for target in targets:
                if target.provider.config.name == provider:
                    price = self.prices.price(provider, target.model)
                    if price is not None:
                        break
        return price

    def remember(self, name: str, windows: list[Window], used: tuple[float, ...]) -> None:
        seen = self.seen.setdefault(name, {})
        for window, value in zip(windows, used):
            seen[(window.metric, window.start)] = value
        if len(seen) > 4 * len(windows) + 4:  # periods that ended: forget them
            current = {(w.metric, w.start) for w in windows}
            for stale in [k for k in seen if k not in current]:
                del seen[stale]

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """The dashboard's stored rows, newest first: after a restart, and from every instance (Redis)."""
        return await self.store.recent_requests(limit)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every key with its limits and budget against their current usage, as this process last saw them,
        in Bifrost's field names (``rate_limit.request_current_usage``, ``budget.current_usage``): the
        dashboard. Never a value."""
        now = time.time()
        out = []
        for entry in self.table.by_name.values():
            seen = self.seen.get(entry.name, {})
            rate_limit: dict[str, Any] = {}
            budget = None
            for metric, limit, duration in entry.limits:
                start, _ = self.clock.period(duration, now)
                used = seen.get((metric, start), 0.0)
                if metric == "cost":
                    budget = {"max_limit": limit, "current_usage": round(used, 6), "reset_duration": duration}
                else:
                    kind = "request" if metric == "requests" else "token"
                    rate_limit.update({f"{kind}_max_limit": limit, f"{kind}_current_usage": used,
                                       f"{kind}_reset_duration": duration})
            out.append({"name": entry.name, "is_active": entry.record.is_active, "source": entry.record.source,
                        "rate_limit": rate_limit or None, "budget": budget})
        return out


def refusal(entry: KeyEntry, window: Window, used: float, now: float) -> Exception:
    wait = max(1, math.ceil(window.end - now))
    duration = _duration_of(entry, window.metric)
    if window.metric == "cost":
        return BudgetExceeded(f"the budget of virtual key {entry.name!r} is spent for this period: "
                              f"${used:.4f} of ${window.limit:g} per {duration}; it resets at {iso(window.end)}",
                              retry_after=wait)
    error = KeyRateLimited(f"virtual key {entry.name!r} reached its limit of {window.limit:g} {window.metric} per "
                           f"{duration}; retry in {wait} s", retry_after=wait)
    error.type = window.metric  # OpenAI: "requests" or "tokens"
    return error


def _duration_of(entry: KeyEntry, metric: str) -> str:
    return next((d for m, _, d in entry.limits if m == metric), "?")


def estimate(request: web.Request, call: Any, grant: Grant, tokens_in: int, tokens_out: int) -> tuple[int, int]:
    """A stream cut before its usage arrived: input = the upstream's count when it came first (Anthropic
    sends it at the start), else the JSON request's bytes / 4; output = one token per event relayed (what
    OpenAI-style streams send), at least what the upstream had reported."""
    if not tokens_in and call.upload is None:
        tokens_in = (request.content_length or 0) // BYTES_PER_TOKEN
    response = grant.response
    relayed = response.get(FRAMES_RELAYED, 0) if response is not None else 0
    return tokens_in, max(tokens_out, relayed)


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """OpenAI's ``x-ratelimit-*`` headers on every answer of a key with limits, errors included."""
    grant = request.get(GRANT)
    if grant is None:
        return
    if not isinstance(response, web.Response):
        grant.response = response
    headers = response.headers
    for window, used in zip(grant.windows, grant.used):
        if window.metric == "cost":
            continue
        kind = window.metric  # "requests" or "tokens"
        headers[f"x-ratelimit-limit-{kind}"] = str(int(window.limit))
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, int(window.limit - used)))
        headers[f"x-ratelimit-reset-{kind}"] = reset_text(window.end - grant.now)


def reset_text(seconds: float) -> str:
    """A wait in OpenAI's header style: ``59.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 60:
        return f"{max(0.0, round(seconds, 1)):g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"
