"""When to try again, and how long to wait first (exponential backoff with full jitter)."""
from __future__ import annotations

import random

from bifrost_proxy.config.schema import NetworkConfig
from bifrost_proxy.errors import AuthenticationFailed, GatewayError, PermissionDenied


def backoff_seconds(network: NetworkConfig, retry: int, rng: random.Random = random._inst) -> float:  # type: ignore[attr-defined]
    """Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base*2^n)]."""
    ceiling = min(network.retry_backoff_max_ms, network.retry_backoff_initial_ms * (2 ** retry))
    return rng.uniform(0.0, ceiling) / 1000.0


def refused_key(error: GatewayError) -> bool:
    """The upstream refused the key itself: try the provider's other keys before giving up."""
    return isinstance(error, (AuthenticationFailed, PermissionDenied))
