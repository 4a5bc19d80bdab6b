"""Weighted random key choice among a provider's keys, skipping keys that are cooling down.

A key cools down after the upstream refused it (401/403: skipped for ``COOLDOWN_AUTH_SECONDS``) or rate
limited it (429: for its ``Retry-After``, else ``COOLDOWN_RATE_LIMIT_SECONDS``). Each cooling key keeps the
status that cooled it, so a request that finds every key cooling can tell "wait for a rate limit to pass"
from "every key was refused".
"""
from __future__ import annotations

import random
import time
from itertools import accumulate
from typing import Callable, Collection

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig

COOLDOWN_AUTH_SECONDS = 60.0  # a refused key is skipped this long; another may serve meanwhile
COOLDOWN_RATE_LIMIT_SECONDS = 1.0  # when the upstream's 429 gave no Retry-After
MAX_CACHED_MODELS = 1024
MAX_CACHED_MODEL_LENGTH = 256  # clients name models: a cache of huge names would be a memory leak
NO_EXCLUSIONS: frozenset[str] = frozenset()


class KeyPool:
    """One per provider per config. ``choose`` is called once per attempt; on the common path (no key
    cooling, nothing excluded) it allocates nothing but the random draw."""

    __slots__ = ("provider", "_eligible", "_cool_until", "_cool_status", "_random", "_clock")

    def __init__(self, provider: ProviderConfig, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self._eligible: dict[str, tuple[tuple[KeyConfig, ...], list[float]]] = {}
        self._cool_until: dict[str, float] = {}
        self._cool_status: dict[str, int] = {}  # key name -> the upstream status that cooled it
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

    def choose(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> KeyConfig | None:
        """A weighted random key for ``model`` that is not cooling down and not in ``exclude``; else None."""
        keys, cum = self._table(model)
        if not keys:
            return None
        if not exclude:
            if not self._cool_until:
                return keys[0] if len(keys) == 1 else self._random.choices(keys, cum_weights=cum)[0]
            self._forget_expired()
            if not self._cool_until:
                return keys[0] if len(keys) == 1 else self._random.choices(keys, cum_weights=cum)[0]
        now = self._clock()
        cool = self._cool_until
        ready = [k for k in keys if k.name not in exclude and cool.get(k.name, 0.0) <= now]
        if not ready:
            return None
        if len(ready) == 1:
            return ready[0]
        return self._random.choices(ready, weights=[k.weight for k in ready])[0]

    def cool_down(self, key: KeyConfig, seconds: float, status: int) -> None:
        """Skip ``key`` for ``seconds`` (never shortening a longer cooldown already running)."""
        until = self._clock() + max(0.0, seconds)
        if until > self._cool_until.get(key.name, 0.0):
            self._cool_until[key.name] = until
            self._cool_status[key.name] = status
        self._forget_expired()

    def soonest_ready(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS,
                      statuses: Collection[int] | None = None) -> float | None:
        """Seconds until the first eligible key outside ``exclude`` stops cooling down (0 if one is ready);
        None if there is none. With ``statuses``, only keys ready now or cooling for one of them count."""
        now = self._clock()
        best: float | None = None
        for k in self.eligible(model):
            if k.name in exclude:
                continue
            until = self._cool_until.get(k.name, 0.0)
            if until <= now:
                return 0.0
            if statuses is not None and self._cool_status.get(k.name) not in statuses:
                continue
            if best is None or until - now < best:
                best = until - now
        return best

    def cooling_status(self, model: str, exclude: Collection[str] = NO_EXCLUSIONS) -> int | None:
        """The status that cooled the eligible keys outside ``exclude`` when they all share one; else None."""
        now = self._clock()
        found: set[int] = set()
        for k in self.eligible(model):
            if k.name in exclude:
                continue
            if self._cool_until.get(k.name, 0.0) <= now:
                return None
            found.add(self._cool_status.get(k.name, 429))
        return found.pop() if len(found) == 1 else None

    def cooling(self) -> list[str]:
        """Names of the keys cooling down now (for metrics and debugging; never values)."""
        now = self._clock()
        return [name for name, until in self._cool_until.items() if until > now]

    def cooling_with(self, statuses: Collection[int]) -> list[str]:
        """Names of the keys cooling down now after one of ``statuses``."""
        now = self._clock()
        return [name for name, until in self._cool_until.items()
                if until > now and self._cool_status.get(name) in statuses]

    def _forget_expired(self) -> None:
        now = self._clock()
        expired = [n for n, until in self._cool_until.items() if until <= now]
        for name in expired:
            del self._cool_until[name]
            self._cool_status.pop(name, None)
