"""Backoff bounds (full jitter) and which errors count as a refused key."""
from __future__ import annotations

import random

import pytest

from bifrost_proxy.config.schema import NetworkConfig
from bifrost_proxy.errors import AuthenticationFailed, BadRequest, from_upstream_status
from bifrost_proxy.routing.retry import backoff_seconds, refused_key

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


def test_refused_key_is_401_and_403_whatever_the_error_type():
    assert refused_key(AuthenticationFailed("no"))
    assert refused_key(from_upstream_status(403, "forbidden", error_type="invalid_request_error"))
    assert not refused_key(BadRequest("bad"))
    assert not refused_key(from_upstream_status(429, "slow down"))
