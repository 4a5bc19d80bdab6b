"""When to try again, and how long to wait first (exponential backoff with full jitter, or longer when the
upstream asked for it)."""
from __future__ import annotations

import random

from bifrost_proxy.config.schema import NetworkConfig
from bifrost_proxy.errors import GatewayError

# the upstream rate limited the key: cool it down for its Retry-After, then it may serve again
RATE_LIMIT_STATUSES = frozenset({429})


def backoff_seconds(network: NetworkConfig, retry: int, rng: random.Random = random._inst) -> float:  # type: ignore[attr-defined]
    """Seconds to wait before retry number ``retry`` (0-based): uniform in [0, min(max, initial * 2^retry)] ms.

    Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") spreads the retries of many
    clients that failed together, so they do not hit the recovering upstream in lockstep.
    """
    exponent = min(retry, 32)  # 2**retry must not overflow the float multiplication
    ceiling = min(network.retry_backoff_max_ms, network.retry_backoff_initial_ms * (2 ** exponent))
    return rng.uniform(0.0, ceiling) / 1000.0


def retry_delay(network: NetworkConfig, retry: int, error: GatewayError,
                rng: random.Random = random._inst) -> float:  # type: ignore[attr-defined]
    """Seconds to wait before retry number ``retry`` after ``error``: the backoff, or what the upstream
    asked for (``Retry-After`` / ``retry-after-ms`` on a 503, a 529 "overloaded" ...) when that is longer.

    A 429's Retry-After is about its key, not the provider: it cools that key down (the key pool holds
    the wait), so the retry goes to another key after the backoff alone, or waits for that key to be ready.
    """
    delay = backoff_seconds(network, retry, rng)
    asked = error.retry_after
    if asked is not None and asked > delay and error.status not in RATE_LIMIT_STATUSES:
        return asked
    return delay
