"""Backoff bounds (full jitter), and the upstream's Retry-After taking over when it asks for longer."""
from __future__ import annotations

import random

import pytest

from bifrost_proxy.config.schema import NetworkConfig
from bifrost_proxy.errors import from_upstream_status
from bifrost_proxy.routing.retry import backoff_seconds, retry_delay

NETWORK = NetworkConfig(base_url="http://x", retry_backoff_initial_ms=100.0, retry_backoff_max_ms=1000.0)


@pytest.mark.parametrize("retry, ceiling", [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0), (500, 1.0)])
def test_backoff_is_uniform_below_a_doubling_ceiling_capped_at_the_max(retry, ceiling):
    rng = random.Random(42)
    samples = [backoff_seconds(NETWORK, retry, rng) for _ in range(2000)]
    assert all(0.0 <= s <= ceiling for s in samples)
    # full jitter: the samples spread over the whole range, not clustered at the ceiling
    assert min(samples) < ceiling * 0.05 and max(samples) > ceiling * 0.95
    assert sum(samples) / len(samples) == pytest.approx(ceiling / 2, rel=0.08)


def test_zero_backoff_config_never_waits():
    network = NetworkConfig(base_url="http://x", retry_backoff_initial_ms=0.0, retry_backoff_max_ms=0.0)
    assert {backoff_seconds(network, n) for n in range(5)} == {0.0}


@pytest.mark.parametrize("status, retryable", [
    (400, False), (401, False), (403, False), (404, False), (413, False), (422, False),
    (408, True), (429, True), (500, True), (502, True), (503, True), (504, True), (529, True),
])
def test_only_transient_upstream_statuses_are_retryable(status, retryable):
    assert from_upstream_status(status, "m").retryable is retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_a_retry_after_longer_than_the_backoff_is_the_wait(status):
    error = from_upstream_status(status, "busy", retry_after=1.0)
    assert {retry_delay(NETWORK, n, error) for n in range(6)} == {1.0}


def test_a_retry_after_shorter_than_the_backoff_leaves_the_backoff():
    error = from_upstream_status(503, "busy", retry_after=0.0)
    rng, same = random.Random(7), random.Random(7)
    assert [retry_delay(NETWORK, 3, error, rng) for _ in range(20)] == \
        [backoff_seconds(NETWORK, 3, same) for _ in range(20)]


def test_a_429s_retry_after_is_held_by_its_key_not_by_the_retry():
    """The 429 cools its key for the Retry-After; another key may serve after the backoff alone."""
    error = from_upstream_status(429, "slow down", retry_after=30.0)
    assert all(retry_delay(NETWORK, n, error) <= 1.0 for n in range(6))
