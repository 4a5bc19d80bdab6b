"""Which key the next attempt of a call uses, and what a refusal or a rate limit does to the key pool.

A cooling key is routed around while another eligible key can serve (issue 11). When none can, a
rate-limited key is waited for within the request's deadline, and a refused key is tried upstream again,
the one refused longest ago first: a refusal is never answered from memory, because the upstream may have
recovered or the key may have been fixed since.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bifrost_proxy.config.schema import KeyConfig
from bifrost_proxy.errors import GatewayError, NotFound, RateLimited
from bifrost_proxy.routing.keypool import COOLDOWN_RATE_LIMIT_SECONDS, COOLDOWN_REFUSED_SECONDS, MODEL_REFUSED, \
    RATE_LIMITED, REFUSED
from bifrost_proxy.routing.refusals import Refusal
from bifrost_proxy.routing.runtime import ProviderRuntime

if TYPE_CHECKING:
    from bifrost_proxy.routing.dispatch import Outcome


def cool_refused(provider: ProviderRuntime, key: KeyConfig, model: str, scope: Refusal, status: int) -> None:
    """The upstream refused ``key`` (``scope``: for every model, or for ``model`` only)."""
    if scope is Refusal.MODEL:
        provider.keys.cool_down(key, COOLDOWN_REFUSED_SECONDS, status, MODEL_REFUSED, model)
        return
    forget = getattr(provider.adapter, "forget_authorization", None)
    if forget is not None:  # e.g. a cached Vertex access token the upstream revoked
        forget(provider.config, key, provider.state)
    provider.keys.cool_down(key, COOLDOWN_REFUSED_SECONDS, status, REFUSED)


def cool_rate_limited(provider: ProviderRuntime, key: KeyConfig, error: GatewayError) -> None:
    """The upstream rate limited ``key``: skip it for the ``Retry-After`` it gave (1 s without one)."""
    seconds = error.retry_after if error.retry_after is not None else COOLDOWN_RATE_LIMIT_SECONDS
    provider.keys.cool_down(key, seconds, error.status, RATE_LIMITED)


async def next_key(provider: ProviderRuntime, model: str, refused: list[str], tried: list[str], deadline: float,
                   last_error: GatewayError | None, last_refusal: Refusal | None, outcome: "Outcome") -> KeyConfig:
    """The key for the next attempt, in this order:

    1. one not cooling that this request has not tried yet, else one not cooling that it has not had
       refused (a retry);
    2. when every key is cooling: the rate-limited key that is ready soonest, waited for if the deadline
       allows;
    3. the key refused longest ago that this request has not had refused: tried upstream again, because a
       refusal is never answered from memory (the upstream may have recovered, the key may be fixed).

    Else it fails: with the last attempt's own error when there was one (the upstream's status and
    message), else with 429 and the wait in ``Retry-After``. Cooling keys passed over are named in
    ``outcome.routed_around`` for the access log.
    """
    keys = provider.keys
    key = keys.choose(model, tried) if tried else keys.choose(model)  # ``tried`` holds ``refused`` too
    if key is None and tried:
        key = keys.choose(model, refused)
    if key is not None:
        return _passing_over_cooling_keys(provider, model, key, tried, outcome)
    if not keys.eligible(model):
        raise NotFound(f"no key of provider {provider.config.name!r} serves model {model[:200]!r}",
                       param="model", code="model_not_served")
    loop = asyncio.get_running_loop()
    wait = keys.soonest_ready(model, refused)
    if wait is not None and loop.time() + wait < deadline:
        await asyncio.sleep(wait)
        key = keys.choose(model, refused)
        if key is not None:
            return _passing_over_cooling_keys(provider, model, key, tried, outcome)
        wait = keys.soonest_ready(model, refused)  # another request cooled it again meanwhile
    key = keys.oldest_refused(model, refused)
    if key is not None:
        return _passing_over_cooling_keys(provider, model, key, tried, outcome)
    if last_error is not None:
        if last_refusal is not None:
            _name_refused_keys(provider, model, refused, last_error, last_refusal)
        raise last_error
    raise RateLimited(f"every key of provider {provider.config.name!r} for {model[:200]!r} is cooling down after "
                      "rate limits; retry later", code="keys_cooling_down", retry_after=wait, retryable=False)


def _passing_over_cooling_keys(provider: ProviderRuntime, model: str, key: KeyConfig, tried: list[str],
                               outcome: "Outcome") -> KeyConfig:
    """``key``, after noting in ``outcome.routed_around`` the cooling keys it was chosen over."""
    if not provider.keys.any_cooling:
        return key  # the common path: nothing cooling, nothing to note
    names = [name for name in provider.keys.cooling_for(model, tried) if name != key.name]
    if names:
        if outcome.routed_around is None:
            outcome.routed_around = names
        else:
            outcome.routed_around.extend(n for n in names if n not in outcome.routed_around)
    return key


def _name_refused_keys(provider: ProviderRuntime, model: str, refused: list[str], error: GatewayError,
                       scope: Refusal) -> None:
    """Say which keys (names, never values) the upstream refused, when a refusal is what is answered."""
    name = provider.config.name
    eligible = provider.keys.eligible(model)
    every = len(refused) == len(eligible)
    names = ", ".join(k.name for k in eligible if k.name in refused)  # in config order
    if scope is Refusal.KEY:
        which = f"every eligible key ({names})" if every else f"key(s) {names}; the other keys are rate limited"
        error.message = f"provider {name!r} refused {which}: {error.message}"
    elif len(refused) > 1:
        error.message = f"provider {name!r} refused model {model[:200]!r} on keys {names}: {error.message}"
