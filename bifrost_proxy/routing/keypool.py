"""Weighted random key choice among a provider's keys, skipping keys that are cooling down.

A key cools down after the upstream refused it (401, or a 403 that names no model: for every model;
a 403/404 about one model: for that model only; ``COOLDOWN_REFUSED_SECONDS`` either way) or rate limited
it (429: for its ``Retry-After``, else ``COOLDOWN_RATE_LIMIT_SECONDS``). A cooling key is only routed
around: when no other key can serve, dispatch waits for a rate-limited key or tries the key refused longest
ago (``oldest_refused``) upstream again, and a key that answers again stops cooling (``served``).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from itertools import accumulate
from typing import Callable, Collection

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig

COOLDOWN_REFUSED_SECONDS = 60.0  # a refused key is routed around this long while another can serve
COOLDOWN_RATE_LIMIT_SECONDS = 1.0  # when the upstream's 429 gave no Retry-After
MAX_CACHED_MODELS = 1024
MAX_CACHED_MODEL_LENGTH = 256  # clients name models: a cache of huge names would be a memory leak
MAX_MODEL_COOLDOWNS = 1024  # (key, model) cooldowns: clients name the models, so their number is bounded too
NO_EXCLUSIONS: frozenset[str] = frozenset()
EVERY_MODEL = ""  # the model part of a cooldown of the whole key (no model is named "")

# why a key cools down: the reason label of the metrics
REFUSED, MODEL_REFUSED, RATE_LIMITED = "refused", "model_refused", "rate_limited"
REASONS = (REFUSED, MODEL_REFUSED, RATE_LIMITED)


@dataclass(slots=True)
class Cooldown:
    until: float  # clock time when the key may serve again
    since: float  # when the upstream refused or rate limited it (the oldest refusal is tried first)
    status: int  # the upstream status that cooled it
    reason: str  # one of REASONS


class KeyPool:
    """One per provider per config. ``choose`` is called once per attempt; on the common path (no key
    cooling, nothing excluded) it allocates nothing but the random draw."""

    __slots__ = ("provider", "_eligible", "_cooling", "_random", "_clock")

    def __init__(self, provider: ProviderConfig, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self._eligible: dict[str, tuple[tuple[KeyConfig, ...], list[float]]] = {}
        # (key name, model or EVERY_MODEL) -> its cooldown; empty on the common path
        self._cooling: dict[tuple[str, str], Cooldown] = {}
        self._random = rng or random.Random()
        self._clock = clock

    def eligible(self, model: str) -> tuple[KeyConfig, ...]:
        """The keys whose ``models`` (or ``aliases``) admit ``model``, in config order."""
        return self._table(model)[0]

    def _table(self, model: str) -> tuple[tuple[KeyConfig, ...], list[float]]:
        entry = self._eligible.get(model)
        if entry is None:
            keys = tuple(k for k in self.provider.keys if k.admits(model))
            entry = (keys, list(accumulate(k.weight for k in keys)))
            if len(self._eligible) < MAX_CACHED_MODELS and len(model) <= MAX_CACHED_MODEL_LENGTH:
                self._eligible[model] = entry
        return entry

    @property
    def any_cooling(self) -> bool:
        """Some key may be cooling (expired cooldowns are forgotten lazily)."""
        return bool(self._cooling)

    def choose(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> KeyConfig | None:
        """A weighted random key for ``model`` that is not cooling down and not in ``exclude``; else None."""
        keys, cum = self._table(model)
        if not keys:
            return None
        if not exclude:
            if not self._cooling:
                return keys[0] if len(keys) == 1 else self._random.choices(keys, cum_weights=cum)[0]
            self._forget_expired()
            if not self._cooling:
                return keys[0] if len(keys) == 1 else self._random.choices(keys, cum_weights=cum)[0]
        now = self._clock()
        ready = [k for k in keys if k.name not in exclude and self._ready_at(k.name, model) <= now]
        if not ready:
            return None
        if len(ready) == 1:
            return ready[0]
        return self._random.choices(ready, weights=[k.weight for k in ready])[0]

    def cool_down(self, key: KeyConfig, seconds: float, status: int, reason: str | None = None,
                  model: str | None = None) -> None:
        """Skip ``key`` for ``seconds``, for ``model`` only when one is given, else for every model.
        ``reason`` defaults to what ``status`` says (429: rate limited, else refused).

        A running cooldown of the same scope that lasts longer is kept (a 429 never cuts a refusal short).
        """
        if reason is None:
            reason = RATE_LIMITED if status == 429 else MODEL_REFUSED if model is not None else REFUSED
        now = self._clock()
        scope = (key.name, EVERY_MODEL if model is None else model)
        current = self._cooling.get(scope)
        until = now + max(0.0, seconds)
        if current is not None and current.until >= until:
            return
        if model is not None and scope not in self._cooling and self._model_cooldowns() >= MAX_MODEL_COOLDOWNS:
            self._forget_expired()
            if self._model_cooldowns() >= MAX_MODEL_COOLDOWNS:
                return  # full of models clients made up: this one is simply not routed around
        self._cooling[scope] = Cooldown(until, now, status, reason)

    def now(self) -> float:
        return self._clock()

    def served(self, key: KeyConfig, model: str, started: float) -> None:
        """``key`` answered for ``model`` an attempt sent at ``started`` (``now()``): the refusals of it
        from before then are over. Rate limits run out on their own; a refusal that came in while this
        attempt ran is newer news and stays."""
        for scope in ((key.name, EVERY_MODEL), (key.name, model)):
            cooldown = self._cooling.get(scope)
            if cooldown is not None and cooldown.reason != RATE_LIMITED and cooldown.since <= started:
                del self._cooling[scope]

    def soonest_ready(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> float | None:
        """Seconds until the first eligible key outside ``exclude`` that only a rate limit holds back may
        serve ``model`` (0 if a key is ready now); None when no such key exists. Refused keys do not count:
        a refusal is not waited out, it is tried again (``oldest_refused``)."""
        now = self._clock()
        best: float | None = None
        for k in self.eligible(model):
            if k.name in exclude:
                continue
            blocking = self._blocking(k.name, model, now)
            if not blocking:
                return 0.0
            if any(c.reason != RATE_LIMITED for c in blocking):
                continue
            wait = max(c.until for c in blocking) - now
            if best is None or wait < best:
                best = wait
        return best

    def oldest_refused(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> KeyConfig | None:
        """The eligible key outside ``exclude`` held back only by a refusal, refused longest ago; else None."""
        now = self._clock()
        best: KeyConfig | None = None
        best_since = 0.0
        for k in self.eligible(model):
            if k.name in exclude:
                continue
            blocking = self._blocking(k.name, model, now)
            if not blocking or any(c.reason == RATE_LIMITED for c in blocking):
                continue
            since = max(c.since for c in blocking)  # its latest refusal
            if best is None or since < best_since:
                best, best_since = k, since
        return best

    def cooling_for(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> list[str]:
        """Names of the eligible keys outside ``exclude`` that cannot serve ``model`` now (never values)."""
        now = self._clock()
        return [k.name for k in self.eligible(model)
                if k.name not in exclude and self._ready_at(k.name, model) > now]

    def cooling(self) -> list[str]:
        """Names of the keys cooling down now, for any model (for metrics and the dashboard; never values)."""
        now = self._clock()
        return list(dict.fromkeys(name for (name, _), c in self._cooling.items() if c.until > now))

    def cooldowns(self) -> list[tuple[str, str, str | None, float]]:
        """Every running cooldown: (key name, reason, model or None for every model, seconds left)."""
        now = self._clock()
        return [(name, c.reason, model, c.until - now) for name, model, c in self.running()]

    def running(self) -> list[tuple[str, str | None, Cooldown]]:
        """Every running cooldown: (key name, model or None for every model, the cooldown itself)."""
        now = self._clock()
        return [(name, model or None, c) for (name, model), c in self._cooling.items() if c.until > now]

    def _ready_at(self, name: str, model: str) -> float:
        cooling = self._cooling
        whole = cooling.get((name, EVERY_MODEL))
        one = cooling.get((name, model))
        return max(whole.until if whole is not None else 0.0, one.until if one is not None else 0.0)

    def _blocking(self, name: str, model: str, now: float) -> list[Cooldown]:
        """The cooldowns that keep key ``name`` from serving ``model`` now."""
        found = (self._cooling.get((name, EVERY_MODEL)), self._cooling.get((name, model)))
        return [c for c in found if c is not None and c.until > now]

    def _model_cooldowns(self) -> int:
        return sum(1 for _, model in self._cooling if model)

    def _forget_expired(self) -> None:
        now = self._clock()
        expired = [scope for scope, c in self._cooling.items() if c.until <= now]
        for scope in expired:
            del self._cooling[scope]
