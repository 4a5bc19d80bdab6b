"""Weighted random key choice among a provider's keys, skipping keys that are cooling down."""
from __future__ import annotations

import random
import time
from itertools import accumulate
from typing import Iterable

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig

COOLDOWN_AUTH_SECONDS = 60.0  # a refused key is skipped this long; another may serve meanwhile
COOLDOWN_RATE_LIMIT_SECONDS = 1.0  # when the upstream's 429 gave no Retry-After
MAX_CACHED_MODELS = 1024


class KeyPool:
    """One per provider per config. ``choose`` is called once per attempt; it allocates nothing per call."""

    __slots__ = ("provider", "_eligible", "_cool_until", "_random")

    def __init__(self, provider: ProviderConfig, rng: random.Random | None = None) -> None:
        self.provider = provider
        self._eligible: dict[str, tuple[tuple[KeyConfig, ...], list[float]]] = {}
        self._cool_until: dict[str, float] = {}
        self._random = rng or random.Random()

    def eligible(self, model: str) -> tuple[KeyConfig, ...]:
        return self._table(model)[0]

    def _table(self, model: str) -> tuple[tuple[KeyConfig, ...], list[float]]:
        entry = self._eligible.get(model)
        if entry is None:
            keys = tuple(k for k in self.provider.keys if k.admits(model))
            entry = (keys, list(accumulate(k.weight for k in keys)))
            if len(self._eligible) < MAX_CACHED_MODELS:  # clients name models; keep the cache bounded
                self._eligible[model] = entry
        return entry

    def choose(self, model: str, exclude: Iterable[str] = ()) -> KeyConfig | None:
        """A weighted random key for ``model`` that is not cooling down and not in ``exclude``; else None."""
        keys, cum = self._table(model)
        if not keys:
            return None
        cool = self._cool_until
        if not cool and not exclude and len(keys) == 1:
            return keys[0]
        now = time.monotonic()
        excluded = set(exclude)
        if not cool and not excluded:
            return self._random.choices(keys, cum_weights=cum)[0]
        ready = [k for k in keys if k.name not in excluded and cool.get(k.name, 0.0) <= now]
        if not ready:
            return None
        return self._random.choices(ready, weights=[k.weight for k in ready])[0]

    def cool_down(self, key: KeyConfig, seconds: float) -> None:
        until = time.monotonic() + max(0.0, seconds)
        if until > self._cool_until.get(key.name, 0.0):
            self._cool_until[key.name] = until
        self._forget_expired()

    def soonest_ready(self, model: str, exclude: Iterable[str] = ()) -> float | None:
        """Seconds until the first eligible, non-excluded key stops cooling down; None if there is none."""
        excluded = set(exclude)
        now = time.monotonic()
        waits = [max(0.0, self._cool_until.get(k.name, 0.0) - now) for k in self.eligible(model)
                 if k.name not in excluded]
        return min(waits) if waits else None

    def cooling(self) -> list[str]:
        now = time.monotonic()
        return [name for name, until in self._cool_until.items() if until > now]

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for name in [n for n, until in self._cool_until.items() if until <= now]:
            del self._cool_until[name]
