"""``Outcome``: what serving one request learned, for the access log, the metrics and the dashboard.

Its own module (not ``dispatch.py``, which fills it in) so that what reads it imports no dispatch.
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.providers.base import Call


class Outcome:
    """What dispatch learned, for the access log and metrics: who served, how many tries."""

    __slots__ = ("provider", "model", "key", "attempts", "fallbacks_used", "upstream_status", "errors",
                 "failed_on", "first_byte_at", "upstream_started_at", "call", "committed", "routed_around")

    def __init__(self) -> None:
        self.provider: str | None = None
        self.model: str | None = None
        self.key: str | None = None  # the key's name, never its value
        self.attempts = 0
        self.fallbacks_used = 0
        self.upstream_status: int | None = None
        self.errors: list[str] = []  # the code (or type) of each failed attempt, in order
        self.failed_on: list[tuple[str, str, int]] = []  # and its provider, key name and status (the dashboard)
        self.first_byte_at: float | None = None  # loop time when the answer's first frame was in hand
        self.upstream_started_at: float | None = None  # loop time when the answering attempt was sent
        self.call: Call | None = None  # its .usage holds the upstream's token counts once known
        # a streamed 200 is on its way to the client: from here on, an error can only be reported in-band
        self.committed = False
        self.routed_around: list[str] | None = None  # names of cooling keys passed over (access log)

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.call.usage if self.call is not None else None
