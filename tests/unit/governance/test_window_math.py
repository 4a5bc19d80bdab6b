"""Reset periods: fixed boundaries in UTC that every instance and every restart agree on."""
from __future__ import annotations

import calendar

import pytest
from hypothesis import given, strategies as st

from bifrost_proxy.governance.windows import parse_duration, window


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, *(0,) * (6 - len(fields))))


@pytest.mark.parametrize("now, duration, start, end", [
    (utc(2025, 3, 14, 15, 9, 26), "30s", utc(2025, 3, 14, 15, 9, 0), utc(2025, 3, 14, 15, 9, 30)),
    (utc(2025, 3, 14, 15, 9, 30), "30s", utc(2025, 3, 14, 15, 9, 30), utc(2025, 3, 14, 15, 10, 0)),
    (utc(2025, 3, 14, 15, 9, 26), "5m", utc(2025, 3, 14, 15, 5), utc(2025, 3, 14, 15, 10)),
    (utc(2025, 3, 14, 15, 9, 26), "1h", utc(2025, 3, 14, 15), utc(2025, 3, 14, 16)),
    (utc(2025, 3, 14, 15, 9, 26), "1d", utc(2025, 3, 14), utc(2025, 3, 15)),
    # 2025-03-14 is a Friday: its week started on Monday the 10th
    (utc(2025, 3, 14, 15, 9, 26), "1w", utc(2025, 3, 10), utc(2025, 3, 17)),
    (utc(2025, 3, 10), "1w", utc(2025, 3, 10), utc(2025, 3, 17)),
    (utc(2025, 3, 9, 23, 59, 59), "1w", utc(2025, 3, 3), utc(2025, 3, 10)),
    (utc(2025, 3, 14, 15, 9, 26), "1M", utc(2025, 3, 1), utc(2025, 4, 1)),
    (utc(2024, 2, 29, 23, 59, 59), "1M", utc(2024, 2, 1), utc(2024, 3, 1)),
    (utc(2025, 12, 31, 23, 59, 59), "1M", utc(2025, 12, 1), utc(2026, 1, 1)),
    (utc(2025, 3, 14), "3M", utc(2025, 1, 1), utc(2025, 4, 1)),
    (utc(2025, 11, 2), "2M", utc(2025, 11, 1), utc(2026, 1, 1)),
    (utc(2025, 3, 14), "1Y", utc(2025, 1, 1), utc(2026, 1, 1)),
    (utc(2025, 1, 1), "1Y", utc(2025, 1, 1), utc(2026, 1, 1)),
])
def test_each_unit_has_its_fixed_boundaries(now, duration, start, end):
    assert window(duration, now) == (start, end)


def test_fractions_of_a_second_belong_to_their_second():
    assert window("30s", utc(2025, 1, 1) + 29.999) == (utc(2025, 1, 1), utc(2025, 1, 1, 0, 0, 30))


@pytest.mark.parametrize("text", ["", "5", "m", "0m", "1.5h", "1x", "-1h", "1 h", "1H", "1mo", None, 60])
def test_a_bad_duration_says_what_is_accepted(text):
    with pytest.raises(ValueError, match="1w, 1M, 1Y"):
        parse_duration(text)


def test_a_good_duration_comes_back_as_written():
    assert [parse_duration(d) for d in ("30s", "5m", "1h", "1d", "1w", "1M", "1Y", " 2d ")] == [
        "30s", "5m", "1h", "1d", "1w", "1M", "1Y", "2d"]


@given(now=st.integers(min_value=0, max_value=utc(2200, 1, 1)),
       duration=st.sampled_from(["1s", "30s", "7m", "1h", "5h", "1d", "3d", "1w", "2w", "1M", "5M", "1Y", "4Y"]))
def test_periods_tile_time(now, duration):
    start, end = window(duration, now)
    assert start <= now < end
    assert window(duration, start) == (start, end)  # a period starts at its own start
    assert window(duration, end)[0] == end  # and the next one starts where it ends
    assert window(duration, end - 1) == (start, end)
