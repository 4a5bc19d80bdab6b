"""When to try again, and how long to wait first (exponential backoff with full jitter)."""
from __future__ import annotations

import random

from bifrost_proxy.config.schema import NetworkConfig
from bifrost_proxy.errors import GatewayError

# the upstream refused the key itself: cool it down and try the provider's other keys first
REFUSED_STATUSES = frozenset({401, 403})
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


def refused_key(error: GatewayError) -> bool:
    """The upstream refused the key itself (401/403): try the provider's other keys before giving up."""
    return error.status in REFUSED_STATUSES
