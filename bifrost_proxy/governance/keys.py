"""Virtual keys on the request path: where a client puts its key, and the in-memory table of keys by hash.

A key's value is a high-entropy secret, so its SHA-256 is stored and compared (no salt needed: a hash of a
random 32-byte value cannot be reversed or guessed); the value itself is kept nowhere. The table is a dict
from hash to ``KeyEntry``: authenticating a request costs one SHA-256 and one dict lookup, and never waits
for the store. ``Governance`` (``enforce.py``) rebuilds the table when the store's ``keys_version`` moves.
"""
from __future__ import annotations

import hashlib
import re
from fnmatch import translate
from typing import Any, Pattern

from aiohttp import web

from bifrost_proxy.governance.headers import RateLimitHeaders
from bifrost_proxy.governance.store.base import VirtualKeyRecord, Window
from bifrost_proxy.governance.windows import WindowClock

BEARER = "bearer "


def hash_value(value: str) -> str:
    """The stored form of a key's value: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def digest(value: str) -> bytes:
    """The raw SHA-256 of a presented value: the request path's lookup key (no hex to format or hash)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def presented_key(request: web.Request) -> str | None:
    """The virtual key a request carries: Bifrost's ``x-bf-vk``, else ``Authorization: Bearer`` (OpenAI SDKs),
    ``x-api-key`` (Anthropic SDK), ``x-goog-api-key`` or ``?key=`` (Gemini SDK)."""
    headers = request.headers
    value = headers.get("x-bf-vk")
    if value:
        return value.strip()
    value = headers.get("Authorization")
    if value:
        if value[:7].lower() == BEARER:
            return value[7:].strip() or None
        return None
    value = headers.get("x-api-key") or headers.get("x-goog-api-key")
    if value:
        return value.strip()
    if request.query_string:
        return request.query.get("key") or None
    return None


def _compile(globs: tuple[str, ...]) -> Pattern[str] | None:
    """One regex for a provider's model globs; None when every model is allowed."""
    if not globs or "*" in globs:
        return None
    return re.compile("|".join(f"(?:{translate(g)})" for g in globs))


class KeyEntry:
    """One key as the request path needs it: its record, its model rules compiled, its limits as a list."""

    __slots__ = ("record", "name", "rules", "limits", "has_budget", "headers", "_windows", "_until")

    def __init__(self, record: VirtualKeyRecord) -> None:
        self.record = record
        self.name = record.name
        # provider -> compiled model globs (None: every model); a provider without an entry is not allowed
        self.rules: dict[str, Pattern[str] | None] | None = None
        if record.provider_configs:
            globs: dict[str, tuple[str, ...]] = {}
            for access in record.provider_configs:  # one provider may be listed twice: its globs add up
                every = not access.allowed_models or globs.get(access.provider) == ()
                globs[access.provider] = () if every else globs.get(access.provider, ()) + access.allowed_models
            self.rules = {provider: _compile(patterns) for provider, patterns in globs.items()}
        # (metric, limit, duration): requests first, so a refused request is known before tokens and USD
        limits: list[tuple[str, float, str]] = []
        rate = record.rate_limit
        if rate is not None and rate.request_max_limit is not None and rate.request_reset_duration:
            limits.append(("requests", float(rate.request_max_limit), rate.request_reset_duration))
        if rate is not None and rate.token_max_limit is not None and rate.token_reset_duration:
            limits.append(("tokens", float(rate.token_max_limit), rate.token_reset_duration))
        if record.budget is not None:
            limits.append(("cost", record.budget.max_limit, record.budget.reset_duration))
        self.limits = tuple(limits)
        self.has_budget = record.budget is not None
        self.headers = RateLimitHeaders()  # the x-ratelimit-* headers of its answers
        self._windows: list[Window] = []
        self._until = 0.0

    def allows(self, provider: str, model: str) -> bool:
        if self.rules is None:
            return True
        if provider not in self.rules:
            return False
        pattern = self.rules[provider]
        return pattern is None or pattern.fullmatch(model) is not None

    def windows(self, clock: WindowClock, now: float) -> list[Window]:
        """This key's limits over their current periods; the list is reused until the first one ends."""
        if now < self._until and self._windows:
            return self._windows
        windows = []
        for metric, limit, duration in self.limits:
            start, end = clock.period(duration, now)
            windows.append(Window(metric, limit, start, end))  # type: ignore[arg-type]
        self._windows = windows
        self._until = min((w.end for w in windows), default=now + 3600.0)
        return windows


class KeyTable:
    """Keys by value hash, built from the store's records; replaced whole on every change (never mutated)."""

    __slots__ = ("by_digest", "by_name", "version")

    def __init__(self, records: list[VirtualKeyRecord], version: Any) -> None:
        entries = [KeyEntry(r) for r in records]
        self.by_digest = {bytes.fromhex(e.record.value_hash): e for e in entries if _is_hex(e.record.value_hash)}
        self.by_name = {e.name: e for e in entries}
        self.version = version


def _is_hex(text: str) -> bool:
    try:
        return len(bytes.fromhex(text)) == 32
    except ValueError:
        return False  # a record stored with a broken hash can never match: leave it out
