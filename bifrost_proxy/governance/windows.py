"""Reset durations (``30s``, ``5m``, ``1h``, ``1d``, ``1w``, ``1M``, ``1Y``) and the fixed periods they cut time
into, in UTC.

Periods have fixed boundaries, not sliding ones, so every instance and every restart agrees on when a
counter resets: seconds, minutes, hours and days are aligned to the Unix epoch; weeks start on Monday
00:00; months and years are calendar months and years. ``N`` units group N of them from the same origin.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone

_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdwMY])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FIRST_MONDAY = 4 * 86400  # 1970-01-05, the first Monday after the epoch


def parse_duration(text: str) -> str:
    """``text`` itself when it is a duration we can reset on; else ValueError saying what is accepted."""
    if not isinstance(text, str) or _DURATION.fullmatch(text.strip()) is None:
        raise ValueError(f"{text!r} is not a duration: write a whole number and one of s, m, h, d, w "
                         "(Monday 00:00 UTC), M (calendar month), Y (calendar year), e.g. 30s, 5m, 1h, 1d, 1w, 1M, 1Y")
    return text.strip()


def window(duration: str, now: float) -> tuple[int, int]:
    """The period ``[start, end)`` of ``duration`` that holds ``now``, in Unix seconds."""
    match = _DURATION.fullmatch(parse_duration(duration))
    assert match is not None
    count, unit = int(match[1]), match[2]
    if unit in _SECONDS:
        span = count * _SECONDS[unit]
        origin = _FIRST_MONDAY if unit == "w" else 0
        start = origin + (int(now) - origin) // span * span
        return start, start + span
    moment = datetime.fromtimestamp(int(now), timezone.utc)
    if unit == "M":
        index = (moment.year - 1970) * 12 + moment.month - 1
        first = index - index % count
        return _month_start(first), _month_start(first + count)
    first_year = moment.year - (moment.year - 1970) % count
    return _month_start((first_year - 1970) * 12), _month_start((first_year + count - 1970) * 12)


def _month_start(index: int) -> int:
    """Unix seconds of the first instant of month ``index`` (0 = January 1970)."""
    return calendar.timegm((1970 + index // 12, index % 12 + 1, 1, 0, 0, 0))


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
