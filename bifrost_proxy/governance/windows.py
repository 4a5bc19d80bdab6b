"""Limit and budget periods: a duration (``30s``, ``5m``, ``1h``, ``1d``, ``1w``, ``1M``, ``1Y``) and an instant
give the fixed period ``[start, end)`` (unix seconds, UTC) that instant falls in.

Periods have fixed boundaries, so every process computes the same one without talking to the others:
seconds, minutes, hours and days are counted from the epoch (``1d`` starts at 00:00 UTC, ``5m`` at :00, :05,
...), weeks from a Monday 00:00 UTC, months and years from the calendar (``1M`` on the 1st, ``1Y`` on
January 1st; ``3M`` on January, April, July and October 1st). A limit resets when its period ends.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdwMY])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MONDAY = 4 * 86400  # 1970-01-01 was a Thursday; the 5th, the first Monday, is 4 days later
DURATION_HELP = "a duration like 30s, 5m, 1h, 1d, 1w, 1M or 1Y (a whole number and one unit: s m h d w M Y)"


def parse_duration(text: object) -> str:
    """``text`` if it is a valid duration, else ``ValueError`` saying what one looks like."""
    if not isinstance(text, str) or DURATION.fullmatch(text.strip()) is None:
        raise ValueError(f"must be {DURATION_HELP}")
    return text.strip()  # a CLI flag or a YAML value may carry spaces around it


def window(duration: str, now: float) -> tuple[int, int]:
    """The period of ``duration`` that contains ``now``: ``(start, end)`` in whole unix seconds."""
    match = DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"{duration!r} is not {DURATION_HELP}")
    count, unit = int(match.group(1)), match.group(2)
    if unit in SECONDS:
        size = count * SECONDS[unit]
        offset = MONDAY if unit == "w" else 0
        start = int((now - offset) // size) * size + offset
        return start, start + size
    moment = datetime.fromtimestamp(now, timezone.utc)
    months = moment.year * 12 + moment.month - 1 if unit == "M" else moment.year
    first = months - months % count  # periods counted from month 0 of year 0: 3M starts in Jan, Apr, Jul, Oct
    if unit == "M":
        return _month_start(first), _month_start(first + count)
    return _year_start(first), _year_start(first + count)


def _month_start(months: int) -> int:
    year, month = divmod(months, 12)
    return int(datetime(year, month + 1, 1, tzinfo=timezone.utc).timestamp())


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp())


def seconds_hint(duration: str) -> int:
    """The nominal length of ``duration`` in seconds (a month is 30 days): for sorting and display only."""
    match = DURATION.fullmatch(duration)
    if match is None:
        return 0
    count, unit = int(match.group(1)), match.group(2)
    return count * SECONDS.get(unit, 30 * 86400 if unit == "M" else 365 * 86400)


class WindowClock:
    """``window()`` with the current period of each duration remembered until it ends: on the request path a
    period costs a dict lookup and a comparison, and a calendar period is computed once a month, not per call."""

    __slots__ = ("_current",)

    def __init__(self) -> None:
        self._current: dict[str, tuple[int, int]] = {}

    def period(self, duration: str, now: float) -> tuple[int, int]:
        current = self._current.get(duration)
        if current is None or not current[0] <= now < current[1]:
            current = self._current[duration] = window(duration, now)
        return current
