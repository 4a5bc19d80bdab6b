"""Fixed periods: every duration's [start, end) in UTC, at and around its boundaries."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from bifrost_proxy.governance.windows import WindowClock, parse_duration, window


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("duration, now, start, end", [
    ("30s", ts(2026, 3, 4, 10, 0, 45), ts(2026, 3, 4, 10, 0, 30), ts(2026, 3, 4, 10, 1, 0)),
    ("5m", ts(2026, 3, 4, 10, 7, 59), ts(2026, 3, 4, 10, 5), ts(2026, 3, 4, 10, 10)),
    ("1h", ts(2026, 3, 4, 10, 0, 0), ts(2026, 3, 4, 10), ts(2026, 3, 4, 11)),
    ("1d", ts(2026, 3, 4, 23, 59, 59), ts(2026, 3, 4), ts(2026, 3, 5)),
    ("1w", ts(2026, 3, 4, 12), ts(2026, 3, 2), ts(2026, 3, 9)),  # Wednesday -> Monday 2 March
    ("1w", ts(2026, 3, 2), ts(2026, 3, 2), ts(2026, 3, 9)),  # Monday 00:00 starts its own week
    ("1w", ts(2026, 3, 1, 23, 59), ts(2026, 2, 23), ts(2026, 3, 2)),  # Sunday night belongs to the week before
    ("1M", ts(2026, 2, 28, 23, 59, 59), ts(2026, 2, 1), ts(2026, 3, 1)),
    ("1M", ts(2026, 12, 31, 12), ts(2026, 12, 1), ts(2027, 1, 1)),
    ("3M", ts(2026, 5, 17), ts(2026, 4, 1), ts(2026, 7, 1)),  # quarters
    ("1Y", ts(2026, 7, 1), ts(2026, 1, 1), ts(2027, 1, 1)),
    ("1Y", ts(2028, 2, 29, 12), ts(2028, 1, 1), ts(2029, 1, 1)),
])
def test_periods_have_fixed_utc_boundaries(duration, now, start, end):
    assert window(duration, now) == (start, end)
    assert window(duration, now + 0.5) == (start, end) or now + 0.5 >= end


def test_a_period_ends_where_the_next_begins():
    start, end = window("1M", ts(2026, 1, 15))
    assert window("1M", end) == (end, ts(2026, 3, 1))
    assert window("1M", end - 0.001)[1] == end


@given(st.sampled_from(["30s", "5m", "1h", "1d", "1w", "2w", "1M", "2M", "1Y"]),
       st.floats(min_value=86400 * 30, max_value=4e9, allow_nan=False))
def test_every_instant_is_in_its_period(duration, now):
    start, end = window(duration, now)
    assert start <= now < end


@pytest.mark.parametrize("text", ["", "1", "m", "0m", "-1h", "1.5h", "1 h", "1mo", "1D", "10000000s", None, 5])
def test_bad_durations_are_refused_with_what_one_looks_like(text):
    with pytest.raises(ValueError, match="is not a duration: .* e.g. 30s, 5m, 1h, 1d, 1w, 1M, 1Y"):
        parse_duration(text)


def test_clock_remembers_a_period_until_it_ends():
    clock = WindowClock()
    first = clock.period("1h", ts(2026, 1, 1, 10, 30))
    assert clock.period("1h", ts(2026, 1, 1, 10, 59, 59)) is first
    assert clock.period("1h", ts(2026, 1, 1, 11)) == (ts(2026, 1, 1, 11), ts(2026, 1, 1, 12))
    assert clock.period("1h", ts(2026, 1, 1, 9)) == (ts(2026, 1, 1, 9), ts(2026, 1, 1, 10))  # a clock set back
