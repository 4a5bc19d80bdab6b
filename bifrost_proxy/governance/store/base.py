"""The one small protocol between the governance core and its stores (SQLite, Redis).

The core (``governance/``) owns the rules: which key a request carries, what it may use, which windows apply
and when they reset. A store owns persistence and, for Redis, the counters shared by every instance. The
core never touches SQL or Redis; a store never parses a duration or a price.

Counters are addressed by ``Window``: one limit of one key over one fixed period. The core computes the
period's start and end (``end`` is when the counter resets) and passes them in; a store keeps a counter per
``(key name, metric, start)`` and may forget it after ``end``.

Hot path: ``admit`` once per request (SQLite: memory only, returns without touching the disk; Redis: one
round trip), ``charge`` once per finished request (never awaits: buffered, flushed at least every second
and at ``close``). Everything else is for the admin API, the CLI and the periodic key refresh.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Metric = Literal["requests", "tokens", "cost"]


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    """One entry of Bifrost's ``provider_configs``: a provider and the model globs allowed on it (none = all)."""

    provider: str
    allowed_models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Bifrost's ``rate_limit``; durations as written (``30s``, ``5m``, ``1h``, ``1d``, ``1w``, ``1M``, ``1Y``)."""

    request_max_limit: int | None = None
    request_reset_duration: str | None = None
    token_max_limit: int | None = None
    token_reset_duration: str | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """Bifrost's ``budget``: ``max_limit`` USD per ``reset_duration``."""

    max_limit: float
    reset_duration: str


@dataclass(frozen=True, slots=True)
class VirtualKeyRecord:
    """A virtual key as stored. The value itself is never stored: only ``value_hash`` (hex SHA-256)."""

    name: str
    value_hash: str = field(repr=False)
    id: str = ""
    is_active: bool = True
    provider_configs: tuple[ProviderAccess, ...] = ()
    rate_limit: RateLimit | None = None
    budget: Budget | None = None
    source: Literal["config", "api"] = "api"  # "config" keys are read-only for the admin API and the CLI
    created_at: float = 0.0  # unix seconds
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """One limit of one key over one fixed period [start, end) in unix seconds."""

    metric: Metric
    limit: float  # requests, tokens, or USD
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit`` decided. ``used`` holds each window's counter after this request was counted (or, when
    refused, as it stands), in the order the windows were given; ``refused`` is the index of the first window
    that was full (nothing was counted then), else None."""

    used: tuple[float, ...]
    refused: int | None = None


class StoreUnavailable(Exception):
    """The store cannot answer (Redis down): the core answers 503 and fails closed; the store reconnects."""


class GovernanceStore(Protocol):
    async def open(self) -> None:
        """Connect / create the schema, load what is needed, start background flushing."""

    async def close(self) -> None:
        """Flush every pending charge and request row, then release everything."""

    # --- key definitions (admin API, CLI, and the core's refresh every <= 1 s) ---
    async def load_keys(self) -> list[VirtualKeyRecord]: ...

    async def keys_version(self) -> int:
        """A number that changes whenever any process adds, changes or deletes a key (cheap to poll)."""

    async def put_key(self, record: VirtualKeyRecord) -> None:
        """Create or replace the key named ``record.name``."""

    async def delete_key(self, name: str) -> bool:
        """Revoke: remove the key and its counters; False if there was none."""

    # --- the hot path ---
    async def admit(self, name: str, windows: list[Window]) -> Admission:
        """Atomically: if every window's counter is below its limit (requests: +1 fits), count one request in
        every ``requests`` window and answer ``Admission(used)``; else count nothing and answer ``refused``.
        Raise ``StoreUnavailable`` when the store cannot be reached."""

    def charge(self, name: str, windows: list[Window], tokens: int, cost: float) -> None:
        """Add a finished request's tokens to its ``tokens`` windows and USD to its ``cost`` windows.
        Never blocks and never raises: buffered, written at least every second and at ``close``."""

    # --- reporting (admin API, CLI, dashboard) ---
    async def usage(self, name: str, windows: list[Window]) -> tuple[float, ...]:
        """Each window's current counter (0 when none), in order."""

    def record_requests(self, rows: list[dict[str, Any]]) -> None:
        """Finished requests' metadata rows (dashboard), buffered like ``charge``; SQLite keeps them for the
        store's retention, Redis in a capped stream."""

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first."""
