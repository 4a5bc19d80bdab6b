"""``Governance``: the virtual-key rules on the request path (``app[GOVERNANCE]``).

Per request, in this order (README "Teams and keys"):
1. ``authenticate`` (the gateway middleware, for /v1, /anthropic, /genai): the key from the request's
   headers, looked up by hash in memory -> 401 ``invalid_api_key`` when missing, unknown or inactive.
2. ``admit`` (``routing.dispatch``, the one point every call goes through, audio included): the primary
   model must be allowed by the key's ``provider_configs`` (-> 403 ``model_not_allowed``) and, for a key
   with a budget, priced; fallbacks that are not are dropped. Then one ``store.admit`` counts the request
   against every limit at once -> 429 ``rate_limit_exceeded`` or 402 ``budget_exceeded``; a store that
   cannot answer -> 503, never an uncounted call.
3. ``finish`` (the middleware's last step, after the answer or the client leaving) charges the upstream's
   token usage and its price; a stream cut before its usage arrived is charged an estimate (``estimate``).
The ``x-ratelimit-*`` headers go on every answer of a key with limits (``headers.py``).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from bifrost_proxy.appkeys import COST_USD, FRAMES_RELAYED, GRANT, VIRTUAL_KEY
from bifrost_proxy.config.schema import Config
from bifrost_proxy.governance.errors import HOW_TO_SEND, BudgetExceeded, InvalidVirtualKey, KeyRateLimited, \
    ModelNotAllowed, StoreDown
from bifrost_proxy.governance.keys import KeyEntry, KeyTable, digest, presented_key
from bifrost_proxy.governance.pricing import PriceTable
from bifrost_proxy.governance.shapes import iso, key_object
from bifrost_proxy.governance.store.base import GovernanceStore, StoreUnavailable, Window
from bifrost_proxy.governance.store.memory import MemoryStore
from bifrost_proxy.governance.windows import WindowClock
from bifrost_proxy.observability.metrics import token_counts

log = logging.getLogger("bifrost_proxy.governance")
BYTES_PER_TOKEN = 4  # the usual estimate for English text; only used when the upstream's count never came
CLIENT_LEFT = 499  # the middleware's status for a request whose client went away
Route = Callable[..., Awaitable[web.StreamResponse]]


class Grant:
    """What governance knows about one request: its key, and what admission said (for the headers)."""

    __slots__ = ("entry", "outcome", "targets", "windows", "headers", "response", "now")

    def __init__(self, entry: KeyEntry) -> None:
        self.entry = entry
        self.outcome: Any = None  # dispatch's Outcome, once admitted
        self.targets: list = []  # those it may use
        self.windows: list[Window] = []  # its limits' periods, once admitted: charged to these
        self.headers: list[tuple[str, str]] = []  # the x-ratelimit-* headers to write (headers.py)
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
        # key name -> (windows, counters) as the store last answered for it (the dashboard)
        self.seen: dict[str, tuple[Any, tuple[float, ...]]] = {}

    @property
    def store(self) -> GovernanceStore:
        return self._store

    @store.setter
    def store(self, store: GovernanceStore) -> None:
        self._store = store
        # a store whose admission is the in-memory one (memory, SQLite) is asked without a coroutine
        self.admit_now = store.admit_now if type(store).admit is MemoryStore.admit else None  # type: ignore

    async def reload_keys(self) -> None:
        """Read every key from the store into a new table (the refresh loop, and the admin API after a change)."""
        version = await self.store.keys_version()
        self.table = KeyTable(await self.store.load_keys(), version)
        self.loaded = True
        for name in [n for n in self.seen if n not in self.table.by_name]:
            del self.seen[name]

    # --- 1. who is calling ---
    def authenticate(self, request: web.Request) -> Grant:
        value = presented_key(request)
        if not value:
            raise InvalidVirtualKey("this gateway needs a virtual key: " + HOW_TO_SEND)
        entry = self.table.by_digest.get(digest(value))
        if entry is None:
            if not self.loaded:
                raise StoreDown("the gateway cannot check virtual keys yet: its governance store has not "
                                "answered since the start; retry shortly", retry_after=1)
            raise InvalidVirtualKey("the virtual key is not valid: it is unknown or was revoked")
        if not entry.record.is_active:
            raise InvalidVirtualKey(f"the virtual key {entry.name!r} is inactive")
        grant = request[GRANT] = Grant(entry)
        request[VIRTUAL_KEY] = entry.name  # the dashboard's row names it
        return grant

    # --- 2. may it, and is there room ---
    def admit(self, request: web.Request, call: Any, targets: list, outcome: Any, route: Route
              ) -> Awaitable[web.StreamResponse]:
        """Check the model, count the request, and return ``route``'s coroutine to serve it. A store that
        keeps its counters in memory (memory, SQLite) answers without suspending, so no coroutine frame is
        added to the request; Redis is awaited first."""
        try:
            grant = request[GRANT]
        except KeyError:  # a route outside /v1, /anthropic, /genai: no key was asked for
            return route(request, call, targets, outcome)
        entry = grant.entry
        if entry.rules is not None or entry.has_budget or len(targets) > 1:
            targets = self.permitted(entry, targets)
        grant.targets, grant.outcome = targets, outcome
        grant.now = now = time.time()
        windows = entry.windows(self.clock, now)
        if windows:  # limits: the store counts this request against every one of them at once
            if self.admit_now is None:
                return self._admit_then_route(request, call, targets, outcome, route, grant, windows)
            admission = self.admit_now(entry.name, windows)
            grant.windows, used = windows, admission.used
            grant.headers = entry.headers.build(windows, used, now)
            self.seen[entry.name] = (windows, used)
            if admission.refused is not None:
                raise refusal(entry, windows[admission.refused], used[admission.refused], now)
        return route(request, call, targets, outcome)

    async def _admit_then_route(self, request: web.Request, call: Any, targets: list, outcome: Any, route: Route,
                                grant: Grant, windows: list[Window]) -> web.StreamResponse:
        try:
            admission = await self.store.admit(grant.entry.name, windows)
        except StoreUnavailable as exc:
            log.warning("governance store unavailable, refusing %s: %s", request.path[:100], exc)
            raise StoreDown("the gateway cannot count this request against its virtual key's limits right now "
                            "(governance store unavailable); retry shortly", retry_after=1) from None
        entry, used = grant.entry, admission.used
        grant.windows = windows
        grant.headers = entry.headers.build(windows, used, grant.now)
        self.seen[entry.name] = (windows, used)
        if admission.refused is not None:
            raise refusal(entry, windows[admission.refused], used[admission.refused], grant.now)
        return await route(request, call, targets, outcome)

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
    def finish(self, grant: Grant, request: web.Request, status: int) -> None:
        """The request is over (the middleware's last step; 499: the client left): charge its tokens and their
        price to the periods it was admitted in (a call that ran across a reset counts where it began)."""
        outcome = grant.outcome
        if outcome is None:  # refused before it was admitted, or never asked for a model
            return
        call = outcome.call
        usage = call.usage
        tokens_in, tokens_out = token_counts(usage)
        if outcome.committed and (status == CLIENT_LEFT or not usage):
            tokens_in, tokens_out = estimate(request, call, grant, tokens_in, tokens_out)
        if not tokens_in and not tokens_out:
            return
        try:
            price = self.prices.price(outcome.provider, outcome.model or "") if outcome.provider else None
            if price is None:
                price = self.price_of(outcome, grant.targets)
            cost = (tokens_in * price.input + tokens_out * price.output) / 1_000_000 if price is not None else 0.0
            if grant.windows:
                self.store.charge(grant.entry.name, grant.windows, tokens_in + tokens_out, cost)
            if price is not None:
                request[COST_USD] = cost
        except Exception:  # accounting must never turn an answer into an error; say so loudly instead
            log.exception("charging virtual key %r failed", grant.entry.name)

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
        """What the store said ``name``'s counters are (admission, admin API, the periodic read)."""
        self.seen[name] = (windows, used)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every key as the admin API shows it (Bifrost's object: ``rate_limit.request_current_usage``,
        ``budget.current_usage`` ...), with usage as this process last saw it: its last admission, or the
        store read every few seconds. For the dashboard; never a value."""
        now = time.time()
        out = []
        for entry in self.table.by_name.values():
            windows, used = self.seen.get(entry.name, ((), ()))
            counters = {(w.metric, w.start): u for w, u in zip(windows, used)}
            usage = {}
            for metric, _, duration in entry.limits:
                start = self.clock.period(duration, now)[0]
                usage[metric] = (counters.get((metric, start), 0.0), start)
            out.append(key_object(entry.record, usage))
        return out

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """The newest request rows the store keeps (the dashboard's table after a restart, or from every
        instance sharing a Redis store), newest first."""
        return await self.store.recent_requests(limit)


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
