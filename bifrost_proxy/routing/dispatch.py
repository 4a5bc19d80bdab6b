"""Serve one call: try its targets in order, each with its keys and retries, until one answers.

The rules (README "Reliability"; issue 6):
- each target gets its provider's ``default_request_timeout``: its queue wait, every attempt, every backoff
  and every wait for a cooling key happen before that one deadline;
- a key refused with 401/403 is cooled down and the next eligible key is tried at once (not a retry);
- a retryable failure (connect error, 429, 5xx, overloaded, an error event before the first frame, a
  first-byte timeout) is retried up to ``max_retries`` times with full-jitter backoff, on another key when
  there is one; a 429 also cools its key for the upstream's ``Retry-After``;
- when a target is spent, the next target (fallback) is tried; if all fail, the primary's error is answered;
- ``relay_stream`` is the point of no return: once the 200 is committed (``Outcome.committed``) nothing is
  retried and no error becomes a second response.

A client that leaves cancels this task: its queue place, backoff sleep or upstream response (``async with``)
are given up at once (the response is released in ``finally``), and the provider's place is freed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable

from aiohttp import ClientResponse, web

from bifrost_proxy.appkeys import GOVERNANCE, SESSION
from bifrost_proxy.config.schema import KeyConfig
from bifrost_proxy.errors import AuthenticationFailed, GatewayError, NotFound, PermissionDenied, RateLimited, \
    UpstreamTimeout
from bifrost_proxy.providers.base import Call
from bifrost_proxy.routing.keypool import COOLDOWN_AUTH_SECONDS, COOLDOWN_RATE_LIMIT_SECONDS
from bifrost_proxy.routing.plan import Target
from bifrost_proxy.routing.retry import RATE_LIMIT_STATUSES, REFUSED_STATUSES, backoff_seconds, refused_key
from bifrost_proxy.routing.runtime import ProviderRuntime
from bifrost_proxy.sse.relay import read_first_frames, relay_stream
from bifrost_proxy.upstream.exceptions import UPSTREAM_FAILURES, translate

log = logging.getLogger("bifrost_proxy.dispatch")


class Outcome:
    """What dispatch learned, for the access log and metrics: who served, how many tries."""

    __slots__ = ("provider", "model", "key", "attempts", "fallbacks_used", "upstream_status", "errors",
                 "first_byte_at", "upstream_started_at", "call", "committed")

    def __init__(self) -> None:
        self.provider: str | None = None
        self.model: str | None = None
        self.key: str | None = None  # the key's name, never its value
        self.attempts = 0
        self.fallbacks_used = 0
        self.upstream_status: int | None = None
        self.errors: list[str] = []  # the code (or type) of each failed attempt, in order
        self.first_byte_at: float | None = None  # loop time when the answer's first frame was in hand
        self.upstream_started_at: float | None = None  # loop time when the answering attempt was sent
        self.call: Call | None = None  # its .usage holds the upstream's token counts once known
        # a streamed 200 is on its way to the client: from here on, an error can only be reported in-band
        self.committed = False

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.call.usage if self.call is not None else None


def dispatch(request: web.Request, call: Call, targets: list[Target],
             outcome: Outcome) -> Awaitable[web.StreamResponse]:
    """Answer ``call`` from the first target that succeeds; if all fail, raise the primary's error.

    Returns the coroutine to await: a call with no fallbacks goes straight to its target, one coroutine
    frame less on every resume of the request.
    """
    outcome.call = call
    governance = request.app.get(GOVERNANCE)
    if governance is not None and governance.enforcing:  # a virtual key's model rules and limits come first
        return governance.admit(request, call, targets, outcome, _route)
    return _route(request, call, targets, outcome)


def _route(request: web.Request, call: Call, targets: list[Target],
           outcome: Outcome) -> Awaitable[web.StreamResponse]:
    if len(targets) == 1 and targets[0].provider.adapter.supports(call.endpoint):
        return _serve_target(request, call, targets[0], outcome)
    return _serve_in_order(request, call, targets, outcome)


async def _serve_in_order(request: web.Request, call: Call, targets: list[Target],
                          outcome: Outcome) -> web.StreamResponse:
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
            if outcome.committed:
                raise  # cannot happen by design; never answer twice (see middlewares/errors.py)
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
    if not provider.limiter.try_acquire():
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
        last_error: GatewayError | None = None
        while True:
            key = await _next_key(provider, target.model, refused, tried, deadline, last_error)
            tried.append(key.name)
            outcome.attempts += 1
            outcome.provider, outcome.key = pconf.name, key.name
            call.model = outcome.model = key.aliases.get(target.model, target.model)
            try:
                return await _attempt(request, call, target, key, deadline, outcome)
            except GatewayError as exc:
                if outcome.committed:
                    raise
                exc.redact(key.value, key.name)
                outcome.errors.append(exc.code or exc.type)
                last_error = exc
                if refused_key(exc):
                    # the key itself was refused: try the next one at once; this is not a retry
                    forget = getattr(provider.adapter, "forget_authorization", None)
                    if forget is not None:  # e.g. a cached Vertex access token the upstream revoked
                        forget(pconf, key, provider.state)
                    provider.keys.cool_down(key, COOLDOWN_AUTH_SECONDS, exc.status)
                    refused.append(key.name)
                    continue
                if exc.status in RATE_LIMIT_STATUSES:
                    provider.keys.cool_down(key, _cooldown(exc), exc.status)
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


def _cooldown(error: GatewayError) -> float:
    return error.retry_after if error.retry_after is not None else COOLDOWN_RATE_LIMIT_SECONDS


async def _next_key(provider: ProviderRuntime, model: str, refused: list[str], tried: list[str], deadline: float,
                    last_error: GatewayError | None) -> KeyConfig:
    """The key for the next attempt: one not tried yet when there is one, else any that is not cooling.

    When every key is cooling down, waits for the soonest rate-limited one if the deadline allows. Else
    it fails: with the last attempt's own error when there was one (the upstream's status and message),
    else with 401/403 when every key was refused recently, else with 429 and the wait in ``Retry-After``.
    """
    keys = provider.keys
    key = keys.choose(model, refused + tried) if tried else keys.choose(model)
    if key is None and tried:
        key = keys.choose(model, refused)
    if key is not None:
        return key
    if not keys.eligible(model):
        raise NotFound(f"no key of provider {provider.config.name!r} serves model {model[:200]!r}",
                       param="model", code="model_not_served")
    loop = asyncio.get_running_loop()
    wait = keys.soonest_ready(model, refused, RATE_LIMIT_STATUSES)
    if wait is not None and loop.time() + wait < deadline:
        await asyncio.sleep(wait)
        key = keys.choose(model, refused)
        if key is not None:
            return key
        wait = keys.soonest_ready(model, refused, RATE_LIMIT_STATUSES)  # another request cooled it again
    name = provider.config.name
    if last_error is not None:
        if refused_key(last_error):
            names = ", ".join(_refused_names(provider, model, refused))
            last_error.message = f"provider {name!r} refused every eligible key ({names}): {last_error.message}"
        raise last_error
    if wait is None:  # no key is merely rate limited: every one was refused recently
        cls = PermissionDenied if keys.cooling_status(model, refused) == 403 else AuthenticationFailed
        names = ", ".join(_refused_names(provider, model, refused))
        raise cls(f"provider {name!r} refused every eligible key ({names}) in the last "
                  f"{COOLDOWN_AUTH_SECONDS:g} s; fix the keys or retry later", code="keys_refused",
                  retry_after=keys.soonest_ready(model, refused))
    raise RateLimited(f"every key of provider {name!r} for {model[:200]!r} is cooling down after rate limits; "
                      "retry later", code="keys_cooling_down", retry_after=wait, retryable=False)


def _refused_names(provider: ProviderRuntime, model: str, refused: list[str]) -> list[str]:
    """Names (never values) of the eligible keys refused by this request or cooling after a refusal."""
    cooling = set(provider.keys.cooling_with(REFUSED_STATUSES))
    return [k.name for k in provider.keys.eligible(model) if k.name in refused or k.name in cooling]


async def _attempt(request: web.Request, call: Call, target: Target, key: KeyConfig, deadline: float,
                   outcome: Outcome) -> web.StreamResponse:
    provider = target.provider
    pconf = provider.config
    adapter = provider.adapter
    upstream_request = adapter.build_request(call, pconf, key)
    authorize = getattr(adapter, "authorize", None)
    session = request.app[SESSION]
    upstream: ClientResponse | None = None
    streaming = False
    try:
        # one deadline for everything before the first byte reaches the client
        async with asyncio.timeout_at(deadline):
            if authorize is not None:
                await authorize(upstream_request, pconf, key, session, provider.state)
            body: Any = upstream_request.body
            if callable(body):
                body = body()  # a fresh payload per attempt (streamed uploads)
            outcome.upstream_started_at = asyncio.get_running_loop().time()
            upstream = await session.request(upstream_request.method, upstream_request.url,
                                             headers=upstream_request.headers, data=body,
                                             allow_redirects=False)
            outcome.upstream_status = upstream.status
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
            streaming = True
    except UPSTREAM_FAILURES as exc:
        raise translate(exc, pconf.name, "before the first byte") from exc
    finally:
        if upstream is not None and not streaming:
            upstream.release()  # read to the end: back to the pool; cut short: closed, never reused
    # the point of no return: from here on a failure is one error event, never a retry or a new answer
    outcome.committed = True
    try:
        return await relay_stream(request, upstream, decoder, first, pconf.network, pconf.name,
                                  _served_by(outcome), key)
    finally:
        upstream.release()


MAX_HEADER_VALUE = 256


def _served_by(outcome: Outcome) -> dict[str, str]:
    return {"x-bifrost-provider": outcome.provider or "", "x-bifrost-model": _header_value(outcome.model or ""),
            "x-bifrost-attempts": str(outcome.attempts)}


def _header_value(value: str) -> str:
    """The model name as the client sent it may be huge or hold CR/LF: never echo that into a header."""
    if len(value) <= MAX_HEADER_VALUE and value.isascii() and value.isprintable():
        return value
    return "".join(c if " " <= c <= "~" else "?" for c in value[:MAX_HEADER_VALUE])


def _content_type(adapter, call: Call, upstream) -> str:
    media_type = getattr(adapter, "response_media_type", None)
    if media_type is not None:
        return media_type(call, upstream.headers)
    return "application/json"
