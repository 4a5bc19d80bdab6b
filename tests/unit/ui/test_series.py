"""Per-second aggregation: counts land in their second, percentiles come back within a bucket, slots are
reused for new seconds, streams in flight are counted from their start and end seconds."""
from __future__ import annotations

import math
import random

import pytest

from bifrost_proxy.ui.series import BOUNDS, BUCKET_GROWTH, WINDOW_SECONDS, Series, new_histogram, percentile
from bisect import bisect_left

T0 = 1_800_000_000


def test_counts_land_in_the_second_they_finished_in():
    series = Series()
    series.record(T0, 200, "openai", 0.010, 0.004, 10, 20)
    series.record(T0, 429, "openai", 0.002, None, 0, 0)
    series.record(T0, 502, "anthropic", 0.030, None, 0, 0)
    series.record(T0 + 1, 404, None, 0.0001, None, 0, 0)
    first = series.summary(T0)
    assert (first["requests"], first["client_errors"], first["server_errors"]) == (3, 1, 1)
    assert (first["tokens_in"], first["tokens_out"]) == (10, 20)
    assert set(first["latency"]) == {"openai", "anthropic"}
    second = series.summary(T0 + 1)
    assert (second["requests"], second["client_errors"], second["latency"]) == (1, 1, {})
    assert series.summary(T0 + 2)["requests"] == 0  # a second without traffic costs nothing and reads as zero


def test_percentiles_are_within_half_a_bucket_of_the_true_values():
    rng = random.Random(7)
    samples = [rng.lognormvariate(math.log(0.2), 0.8) for _ in range(5000)]
    histogram = new_histogram()
    for value in samples:
        histogram[bisect_left(BOUNDS, value)] += 1
    ordered = sorted(samples)
    for q in (0.5, 0.95):
        true = ordered[math.ceil(q * len(ordered)) - 1]
        got = percentile(histogram, q)
        assert true / BUCKET_GROWTH <= got <= true * BUCKET_GROWTH, (q, true, got)
    assert percentile(new_histogram(), 0.5) is None


def test_extreme_latencies_land_in_the_end_buckets():
    histogram = new_histogram()
    histogram[bisect_left(BOUNDS, 0.0)] += 1
    assert percentile(histogram, 0.5) == BOUNDS[0]
    histogram = new_histogram()
    histogram[bisect_left(BOUNDS, 10_000.0)] += 1
    assert percentile(histogram, 0.5) == BOUNDS[-1]


def test_a_finished_second_is_folded_into_four_numbers_and_its_histograms_freed():
    series = Series()
    for ms in (10, 20, 30, 40, 1000):
        series.record(T0, 200, "openai", ms / 1000, ms / 2000, 0, 0)
    stats = series.slots[T0 % WINDOW_SECONDS].providers["openai"]
    assert stats.duration is not None  # the second is still running
    series.record(T0 + 1, 200, "openai", 0.01, None, 0, 0)  # the next second's first request folds it
    assert stats.duration is None and stats.ttfb is None
    p50, p95, ttfb50, ttfb95 = stats.summary
    assert 0.030 / BUCKET_GROWTH <= p50 <= 0.030 * BUCKET_GROWTH
    assert 1.0 / BUCKET_GROWTH <= p95 <= 1.0 * BUCKET_GROWTH
    assert 0.015 / BUCKET_GROWTH <= ttfb50 <= 0.015 * BUCKET_GROWTH
    latency = series.summary(T0)["latency"]["openai"]
    assert latency["p50"] == round(p50 * 1000, 3)  # milliseconds on the wire


def test_a_request_after_a_reader_folded_its_second_is_still_counted():
    series = Series()
    series.record(T0, 200, "openai", 0.01, None, 0, 0)
    series.summary(T0)  # a page read the second (its clock ran ahead of this request's)
    series.record(T0, 200, "openai", 0.01, None, 0, 0)
    assert series.summary(T0)["requests"] == 2


def test_slots_are_reused_a_window_later_and_old_seconds_leave_the_window():
    series = Series()
    series.record(T0, 200, "openai", 0.01, None, 0, 0)
    series.record(T0 + WINDOW_SECONDS, 500, "openai", 0.01, None, 0, 0)  # same slot, a window later
    assert series.summary(T0)["requests"] == 0
    assert series.summary(T0 + WINDOW_SECONDS)["server_errors"] == 1
    window = series.window(T0 + WINDOW_SECONDS + 1)
    assert len(window["t"]) == WINDOW_SECONDS - 1  # every complete second the ring still holds
    assert window["t"][-1] == T0 + WINDOW_SECONDS and window["server_errors"][-1] == 1
    assert sum(window["requests"]) == 1


def test_a_clock_stepping_back_more_than_the_window_counts_in_the_newer_second():
    series = Series()
    series.record(T0 + WINDOW_SECONDS, 200, None, 0.01, None, 0, 0)
    series.record(T0, 200, None, 0.01, None, 0, 0)  # never raises on the request path
    assert series.summary(T0 + WINDOW_SECONDS)["requests"] == 2


def test_the_window_starts_at_the_first_second_written_and_ends_before_the_current_one():
    series = Series()
    assert series.window(T0)["t"] == []
    series.record(T0, 200, "openai", 0.010, 0.002, 5, 7)
    series.record(T0 + 3, 200, "gemini", 0.020, None, 0, 0)
    window = series.window(T0 + 4)
    assert window["t"] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert window["requests"] == [1, 0, 0, 1]
    assert window["tokens_in"] == [5, 0, 0, 0] and window["tokens_out"] == [7, 0, 0, 0]
    openai, gemini = window["latency"]["openai"], window["latency"]["gemini"]
    assert openai["p50"][0] is not None and openai["p50"][1:] == [None, None, None]
    assert gemini["p50"][:3] == [None, None, None] and gemini["p50"][3] is not None
    assert openai["ttfb_p50"][0] is not None and gemini["ttfb_p50"][3] is None
    assert all(len(column) == 4 for column in openai.values())
    assert series.window(T0 + 3)["t"] == [T0, T0 + 1, T0 + 2]  # the running second is not complete


def test_streams_in_flight_cover_every_second_from_first_byte_to_end():
    series = Series()
    series.stream(T0, T0 + 2)      # open during T0, T0+1, T0+2
    series.stream(T0 + 1, T0 + 1)  # a one-second stream
    series.stream(T0 + 4, T0 + 5)
    window = series.window(T0 + 6)
    assert window["streams"] == [1, 2, 1, 0, 1, 1]
    assert [series.summary(T0 + i)["streams"] for i in range(6)] == [1, 2, 1, 0, 1, 1]


def test_a_stream_longer_than_the_window_counts_from_the_window_start():
    series = Series()
    end = T0 + 2 * WINDOW_SECONDS
    series.stream(T0, end)
    window = series.window(end + 1)
    assert window["streams"] and all(count == 1 for count in window["streams"])


@pytest.mark.parametrize("status,client,server", [(200, 0, 0), (399, 0, 0), (400, 1, 0), (499, 1, 0),
                                                   (500, 0, 1), (504, 0, 1)])
def test_statuses_are_split_into_client_and_server_errors(status, client, server):
    series = Series()
    series.record(T0, status, "openai", 0.01, None, 0, 0)
    summary = series.summary(T0)
    assert (summary["client_errors"], summary["server_errors"]) == (client, server)
