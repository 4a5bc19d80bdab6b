"""Per-second aggregates of the last 15 minutes: a ring of 900 slots, one per wall-clock second.

A finished request bumps the counters of the second it ended in and, when a provider served it, a latency
and a time-to-first-byte histogram for that provider (log-spaced buckets, 15 % apart: a percentile read
back is off by at most 7.5 %). A slot found holding an older second is reset on the spot, so nothing runs
for seconds without traffic and nothing runs on a timer. Once its second is over, a slot's histograms are
folded into four numbers (p50 and p95 of each) and given back, so memory stays fixed however busy the
gateway is.

Streams in flight are counted without a timer either: a finished stream leaves its first-byte second in
the slot of the second it ended in, so a reader can tell how many streams were open in each second. A
stream still open is not known here until it ends; the caller adds the live count to the current second.
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from typing import Any

WINDOW_SECONDS = 900
BUCKET_BASE = 0.0005  # seconds: everything below half a millisecond is one bucket
BUCKET_GROWTH = 1.15
BOUNDS: tuple[float, ...] = tuple(BUCKET_BASE * BUCKET_GROWTH ** i for i in range(106))  # up to ~20 minutes
EMPTY_HISTOGRAM = bytes(array("I", [0]).itemsize * (len(BOUNDS) + 1))


def new_histogram() -> array:
    return array("I", EMPTY_HISTOGRAM)


def percentile(histogram: array, q: float) -> float | None:
    """The ``q`` quantile (0..1) of a bucket histogram, in seconds: the bucket's geometric middle."""
    total = sum(histogram)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            if index == 0:
                return BOUNDS[0]
            if index >= len(BOUNDS):
                return BOUNDS[-1]
            return math.sqrt(BOUNDS[index - 1] * BOUNDS[index])
    return BOUNDS[-1]  # not reached: the counts add up to total


class ProviderSecond:
    """One provider's requests in one second; ``summary`` replaces the histograms once the second is over."""

    __slots__ = ("requests", "errors", "duration", "ttfb", "summary")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.duration: array | None = new_histogram()
        self.ttfb: array | None = new_histogram()
        # latency p50, p95, time to first byte p50, p95 (seconds; None without samples)
        self.summary: tuple[float | None, ...] | None = None

    def fold(self) -> tuple[float | None, ...]:
        if self.summary is None:
            duration, ttfb = self.duration, self.ttfb
            assert duration is not None and ttfb is not None
            self.summary = (percentile(duration, 0.5), percentile(duration, 0.95),
                            percentile(ttfb, 0.5), percentile(ttfb, 0.95))
            self.duration = self.ttfb = None
        return self.summary


class SecondSlot:
    __slots__ = ("second", "requests", "client_errors", "server_errors", "tokens_in", "tokens_out",
                 "streams", "providers")

    def __init__(self, second: int) -> None:
        self.reset(second)

    def reset(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.client_errors = 0  # 4xx answers
        self.server_errors = 0  # 5xx answers
        self.tokens_in = 0
        self.tokens_out = 0
        self.streams: list[int] | None = None  # first-byte seconds of the streams that ended in this one
        self.providers: dict[str, ProviderSecond] = {}


class Series:
    """The ring of ``WINDOW_SECONDS`` slots. Writers call ``slot(second)``; readers call ``window``/``summary``."""

    __slots__ = ("slots", "first_second", "last_written")

    def __init__(self) -> None:
        self.slots = [SecondSlot(-1) for _ in range(WINDOW_SECONDS)]
        self.first_second: int | None = None  # the oldest second ever written: charts start there
        self.last_written: SecondSlot | None = None

    def slot(self, second: int) -> SecondSlot:
        """The slot of ``second``, emptied first if it still holds an older second. Should the wall clock
        step back by more than the window, the slot keeps its newer second and counts this in it."""
        slot = self.slots[second % WINDOW_SECONDS]
        if slot.second < second:
            slot.reset(second)
            if self.first_second is None or second < self.first_second:
                self.first_second = second
        return slot

    def record(self, second: int, status: int, provider: str | None, duration: float, ttfb: float | None,
               tokens_in: int, tokens_out: int) -> None:
        """One finished request (durations in seconds)."""
        slot = self.last_written
        if slot is None or slot.second != second:  # the first request of a second (or a clock step)
            slot = self.slot(second)
            last = self.last_written
            if last is not None and last is not slot and last.second < second:
                for stats in last.providers.values():  # that second is over: fold it now, once
                    stats.fold()
            self.last_written = slot
        slot.requests += 1
        error = status >= 400
        if error:
            if status >= 500:
                slot.server_errors += 1
            else:
                slot.client_errors += 1
        if tokens_in:
            slot.tokens_in += tokens_in
        if tokens_out:
            slot.tokens_out += tokens_out
        if provider is None:
            return
        stats = slot.providers.get(provider)
        if stats is None:
            stats = slot.providers[provider] = ProviderSecond()
        stats.requests += 1
        if error:
            stats.errors += 1
        if stats.duration is None:  # folded by a reader while this second was passing: keep the numbers
            return
        stats.duration[bisect_left(BOUNDS, duration)] += 1
        if ttfb is not None:
            stats.ttfb[bisect_left(BOUNDS, ttfb)] += 1

    def stream(self, started: int, ended: int) -> None:
        """A stream relayed from second ``started`` to second ``ended``."""
        slot = self.slot(ended)
        if slot.streams is None:
            slot.streams = []
        started = min(started, ended)
        slot.streams.append(started)
        if self.first_second is None or started < self.first_second:
            self.first_second = started  # the chart starts when the first stream did

    def _open_per_second(self, first: int, last: int) -> list[int]:
        """How many finished streams were open in each second from ``first`` to ``last``."""
        changes = [0] * (last - first + 2)
        for slot in self.slots:
            if slot.streams is None or slot.second < first:
                continue
            end = min(slot.second, last)  # a stream that ended later was open until ``last`` at least
            for started in slot.streams:
                if started <= end:
                    changes[max(started, first) - first] += 1
                    changes[end - first + 1] -= 1
        open_streams, running = [], 0
        for change in changes[:-1]:
            running += change
            open_streams.append(running)
        return open_streams

    def _live(self, second: int) -> SecondSlot | None:
        slot = self.slots[second % WINDOW_SECONDS]
        return slot if slot.second == second else None

    def window(self, now: int) -> dict[str, Any]:
        """Every complete second from the first one written (at most 15 minutes ago) up to ``now - 1``,
        as columns: ``t`` (unix seconds) and one list per figure; latency per provider in milliseconds."""
        end = now - 1
        first = self.first_second
        start = max(end - WINDOW_SECONDS + 2, first if first is not None else end)
        columns: dict[str, Any] = {name: [] for name in
                                   ("t", "requests", "client_errors", "server_errors", "tokens_in", "tokens_out",
                                    "streams")}
        providers: dict[str, dict[str, list]] = {}
        if first is None or start > end:
            columns["latency"] = providers
            return columns
        columns["streams"] = self._open_per_second(start, end)
        for index, second in enumerate(range(start, end + 1)):
            slot = self._live(second)
            columns["t"].append(second)
            if slot is None:
                for name in ("requests", "client_errors", "server_errors", "tokens_in", "tokens_out"):
                    columns[name].append(0)
                for lists in providers.values():
                    for values in lists.values():
                        values.append(None)
                continue
            columns["requests"].append(slot.requests)
            columns["client_errors"].append(slot.client_errors)
            columns["server_errors"].append(slot.server_errors)
            columns["tokens_in"].append(slot.tokens_in)
            columns["tokens_out"].append(slot.tokens_out)
            for lists in providers.values():
                for values in lists.values():
                    values.append(None)
            for name, stats in slot.providers.items():
                lists = providers.get(name)
                if lists is None:
                    lists = providers[name] = {k: [None] * (index + 1) for k in LATENCY_FIELDS}
                for field, value in zip(LATENCY_FIELDS, stats.fold()):
                    lists[field][index] = _ms(value)
        columns["latency"] = providers
        return columns

    def summary(self, second: int) -> dict[str, Any]:
        """One complete second, shaped as one row of ``window`` (``streams`` without the open ones)."""
        slot = self._live(second)
        in_flight = self._open_per_second(second, second)[0]
        if slot is None:
            return {"t": second, "requests": 0, "client_errors": 0, "server_errors": 0, "tokens_in": 0,
                    "tokens_out": 0, "streams": in_flight, "latency": {}}
        return {"t": second, "requests": slot.requests, "client_errors": slot.client_errors,
                "server_errors": slot.server_errors, "tokens_in": slot.tokens_in, "tokens_out": slot.tokens_out,
                "streams": in_flight,
                "latency": {name: dict(zip(LATENCY_FIELDS, map(_ms, stats.fold())))
                            for name, stats in slot.providers.items()}}


LATENCY_FIELDS = ("p50", "p95", "ttfb_p50", "ttfb_p95")


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)
