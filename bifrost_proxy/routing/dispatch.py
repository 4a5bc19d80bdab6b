"""Serve one call: try its targets in order, each with its keys and retries, until one answers.

Everything before the first byte to the client may be retried or fall back; ``relay_stream`` is the
point of no return. A client that leaves cancels this task, which closes the upstream response
(``async with``) and frees the provider's place (``finally``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from bifrost_proxy.appkeys import SESSION
from bifrost_proxy.errors import GatewayError, NotFound, RateLimited, UpstreamTimeout
from bifrost_proxy.providers.base import Call
from bifrost_proxy.routing.keypool import COOLDOWN_AUTH_SECONDS, COOLDOWN_RATE_LIMIT_SECONDS
from bifrost_proxy.routing.plan import Target
from bifrost_proxy.routing.retry import backoff_seconds, refused_key
from bifrost_proxy.sse.relay import read_first_frames, relay_stream
from bifrost_proxy.upstream.exceptions import map_client_errors

log = logging.getLogger("bifrost_proxy.dispatch")


class Outcome:
    """What dispatch learned, for the access log and metrics: who served, how many tries."""

    __slots__ = ("provider", "model", "key", "attempts", "fallbacks_used", "upstream_status", "errors",
                 "first_byte_at", "call")

    def __init__(self) -> None:
        self.provider: str | None = None
        self.model: str | None = None
        self.key: str | None = None  # the key's name, never its value
        self.attempts = 0
        self.fallbacks_used = 0
        self.upstream_status: int | None = None
        self.errors: list[str] = []  # the code (or type) of each failed attempt, in order
        self.first_byte_at: float | None = None  # loop time when the answer's first frame was in hand
        self.call: Call | None = None  # its .usage holds the upstream's token counts once known

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.call.usage if self.call is not None else None


async def dispatch(request: web.Request, call: Call, targets: list[Target], outcome: Outcome) -> web.StreamResponse:
    """Answer ``call`` from the first target that succeeds; if all fail, raise the primary's error."""
    outcome.call = call
    first_error: GatewayError | None = None
    for index, target in enumerate(targets):
        if not target.provider.adapter.supports(call.endpoint):
            error: GatewayError = NotFound(
                f"provider {target.provider.config.name!r} ({target.provider.config.type}) does not serve "
                f"{call.endpoint.value}", code="unsupported_endpoint")
            first_error = first_error or error
            continue
        outcome.fallbacks_used = index
        try:
            return await _serve_target(request, call, target, outcome)
        except GatewayError as exc:
            first_error = first_error or exc
            if index + 1 < len(targets):
                log.info("falling back from %s: %s", target.label, exc.message)
    assert first_error is not None
    raise first_error


async def _serve_target(request: web.Request, call: Call, target: Target, outcome: Outcome) -> web.StreamResponse:
    provider = target.provider
    pconf = provider.config
    network = pconf.network
    loop = asyncio.get_running_loop()
    deadline = loop.time() + network.default_request_timeout
    try:
        async with asyncio.timeout_at(deadline):
            await provider.limiter.acquire()
    except TimeoutError:
        raise UpstreamTimeout(f"provider {pconf.name!r} had no free place within "
                              f"{network.default_request_timeout:g} s", code="queue_timeout") from None
    try:
        refused: list[str] = []
        tried: list[str] = []
        retries = 0
        while True:
            key = await _next_key(provider, target.model, refused, tried, deadline, loop)
            tried.append(key.name)
            outcome.attempts += 1
            outcome.provider, outcome.key = pconf.name, key.name
            call.model = outcome.model = key.aliases.get(target.model, target.model)
            try:
                return await _attempt(request, call, target, key, deadline, outcome)
            except GatewayError as exc:
                outcome.errors.append(exc.code or exc.type)
                if refused_key(exc):
                    provider.keys.cool_down(key, COOLDOWN_AUTH_SECONDS)
                    refused.append(key.name)
                    if provider.keys.soonest_ready(target.model, refused) is not None:
                        continue  # another key may be accepted; this is not a retry
                    exc.message = (f"provider {pconf.name!r} refused every eligible key "
                                   f"({', '.join(refused)}): {exc.message}")
                    raise
                if exc.status == 429 and exc.retryable:
                    provider.keys.cool_down(key, exc.retry_after or COOLDOWN_RATE_LIMIT_SECONDS)
                if not exc.retryable or retries >= network.max_retries:
                    raise
                delay = backoff_seconds(network, retries)
                if loop.time() + delay >= deadline:
                    raise
                retries += 1
                log.info("retrying %s in %.3f s after: %s", target.label, delay, exc.message)
                await asyncio.sleep(delay)
    finally:
        provider.limiter.release()


async def _next_key(provider, model: str, refused: list[str], tried: list[str], deadline: float, loop):
    """A key for the next attempt: preferably one not tried yet; waits for a cooling key if time allows."""
    keys = provider.keys
    key = keys.choose(model, exclude=refused + tried) or keys.choose(model, exclude=refused)
    if key is not None:
        return key
    if not keys.eligible(model):
        raise NotFound(f"no key of provider {provider.config.name!r} serves model {model[:200]!r}",
                       param="model", code="model_not_served")
    wait = keys.soonest_ready(model, refused)
    if wait is None or loop.time() + wait >= deadline:
        raise RateLimited(f"every key of provider {provider.config.name!r} for {model[:200]!r} is cooling down "
                          "after rate limits; retry later", code="keys_cooling_down",
                          retry_after=wait, retryable=False)
    await asyncio.sleep(wait)
    key = keys.choose(model, exclude=refused)
    if key is None:  # another request cooled it again meanwhile
        raise RateLimited(f"every key of provider {provider.config.name!r} is cooling down; retry later",
                          code="keys_cooling_down", retryable=False)
    return key


async def _attempt(request: web.Request, call: Call, target: Target, key, deadline: float,
                   outcome: Outcome) -> web.StreamResponse:
    provider = target.provider
    pconf = provider.config
    adapter = provider.adapter
    upstream_request = adapter.build_request(call, pconf, key)
    authorize = getattr(adapter, "authorize", None)
    session = request.app[SESSION]
    with map_client_errors(pconf.name, "before the first byte"):
        async with asyncio.timeout_at(deadline):
            if authorize is not None:
                await authorize(upstream_request, pconf, key, session, provider.state)
            body: Any = upstream_request.body
            if callable(body):
                body = body()  # a fresh payload per attempt (streamed uploads)
            upstream = await session.request(upstream_request.method, upstream_request.url,
                                             headers=upstream_request.headers, data=body,
                                             allow_redirects=False)
        async with upstream:
            outcome.upstream_status = upstream.status
            async with asyncio.timeout_at(deadline):
                if upstream.status >= 400:
                    raw = await upstream.read()
                    raise adapter.parse_error(call, upstream.status, upstream.headers, raw)
                if not call.stream:
                    raw = await upstream.read()
                    outcome.first_byte_at = asyncio.get_running_loop().time()
                    answer = adapter.parse_response(call, upstream.headers, raw)
                    return web.Response(body=answer, status=200, headers=_served_by(outcome),
                                        content_type=_content_type(adapter, call, upstream))
                call.upstream_headers = upstream.headers
                decoder = adapter.stream_decoder(call)
                first = await read_first_frames(upstream, decoder)
                outcome.first_byte_at = asyncio.get_running_loop().time()
            return await relay_stream(request, upstream, decoder, first, pconf.network, pconf.name,
                                      _served_by(outcome))


def _served_by(outcome: Outcome) -> dict[str, str]:
    return {"x-bifrost-provider": outcome.provider or "", "x-bifrost-model": outcome.model or "",
            "x-bifrost-attempts": str(outcome.attempts)}


def _content_type(adapter, call: Call, upstream) -> str:
    media_type = getattr(adapter, "response_media_type", None)
    if media_type is not None:
        return media_type(call, upstream.headers)
    return "application/json"
