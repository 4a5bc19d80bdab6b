"""Serve one call: try its targets in order, each with its keys and retries, until one answers.

The rules (README "Reliability"; issues 6 and 11):
- each target gets its provider's ``default_request_timeout``: its queue wait, every attempt, every backoff
  and every wait for a cooling key happen before that one deadline;
- a key refused (401; 403 for every model; 403/404 for one model: ``refusals.py``) is cooled down, for
  that model only when the refusal names it, and the next eligible key is tried at once (not a retry);
- a retryable failure (connect error, 429, 5xx, overloaded, an error event before the first frame, a
  first-byte timeout) is retried up to ``max_retries`` times with full-jitter backoff, or after the
  upstream's ``Retry-After`` when that is longer, on another key when there is one; a 429 also cools its
  key for its ``Retry-After``; a wait that would pass the deadline ends this target at once;
- cooling keys are routed around; when none other can serve, a rate-limited key is waited for and a
  refused one is tried upstream again (issue 11: a refusal is never answered from memory);
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

from aiohttp import web

from bifrost_proxy.appkeys import CLIENT, DEADLINES, GOVERNANCE, SESSION
from bifrost_proxy.config.schema import KeyConfig
from bifrost_proxy.errors import GatewayError, NotFound, UpstreamTimeout
from bifrost_proxy.inbound.base import DialectDecoder
from bifrost_proxy.providers.base import Call
from bifrost_proxy.routing.keychoice import cool_rate_limited, cool_refused, next_key
from bifrost_proxy.routing.outcome import Outcome
from bifrost_proxy.routing.plan import Target
from bifrost_proxy.routing.refusals import Refusal, refusal
from bifrost_proxy.routing.retry import RATE_LIMIT_STATUSES, retry_delay
from bifrost_proxy.sse.relay import read_first_frames, relay_stream
from bifrost_proxy.upstream.client import UpstreamAnswer
from bifrost_proxy.upstream.exceptions import UPSTREAM_FAILURES, translate

log = logging.getLogger("bifrost_proxy.dispatch")


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
    if len(targets) == 1 and _serves(targets[0], call):
        return _serve_target(request, call, targets[0], outcome)
    return _serve_in_order(request, call, targets, outcome)


async def _serve_in_order(request: web.Request, call: Call, targets: list[Target],
                          outcome: Outcome) -> web.StreamResponse:
    first_error: GatewayError | None = None
    for index, target in enumerate(targets):
        if not _serves(target, call):
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


def _serves(target: Target, call: Call) -> bool:
    """Whether the adapter that would serve ``call`` on ``target`` (its dialect's passthrough, when the
    provider speaks the client's API natively) supports the call's endpoint."""
    if call.dialect is not None:
        native = call.dialect.passthrough_adapter(target.provider.config)
        if native is not None:
            return native.supports(call.endpoint)
    return target.provider.adapter.supports(call.endpoint)


async def _serve_target(request: web.Request, call: Call, target: Target, outcome: Outcome) -> web.StreamResponse:
    provider = target.provider
    pconf = provider.config
    network = pconf.network
    keys = provider.keys
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
        last_refusal: Refusal | None = None
        while True:
            # the common case (a first attempt, no key cooling) needs no coroutine: next_key's first step
            key = keys.choose(target.model) if not tried and not keys.any_cooling else None
            if key is None:
                key = await next_key(provider, target.model, refused, tried, deadline, last_error, last_refusal,
                                     outcome)
            tried.append(key.name)
            outcome.attempts += 1
            outcome.provider, outcome.key = pconf.name, key.name
            call.model = outcome.model = key.aliases.get(target.model, target.model)
            sent_at = keys.now() if keys.any_cooling else None  # only a key that may be cooling can recover
            try:
                response = await _attempt(request, call, target, key, deadline, outcome)
            except GatewayError as exc:
                if outcome.committed:
                    raise
                exc.redact(key.value, key.name)
                outcome.errors.append(exc.code or exc.type)
                outcome.failed_on.append((pconf.name, key.name, exc.status))
                last_error = exc
                last_refusal = refusal(exc, target.model, call.model)
                if last_refusal is not None:
                    # the key (or its use of this model) was refused: the next key is tried at once; not a retry
                    cool_refused(provider, key, target.model, last_refusal, exc.status)
                    refused.append(key.name)
                    continue
                if exc.status in RATE_LIMIT_STATUSES:
                    cool_rate_limited(provider, key, exc)
                if not exc.retryable or retries >= network.max_retries:
                    raise
                delay = retry_delay(network, retries, exc)
                if loop.time() + delay >= deadline:
                    raise  # the wait would outlast the timeout: give up on this target now, on to the fallbacks
                retries += 1
                log.info("retrying %s in %.3f s after: %s", target.label, delay, exc.message)
                await asyncio.sleep(delay)
            else:
                if sent_at is not None:
                    keys.served(key, target.model, sent_at)
                return response
    finally:
        provider.limiter.release()


async def _attempt(request: web.Request, call: Call, target: Target, key: KeyConfig, deadline: float,
                   outcome: Outcome) -> web.StreamResponse:
    provider = target.provider
    pconf = provider.config
    adapter = provider.adapter
    dialect = call.dialect
    if dialect is not None:  # a client of another API: go through untouched, or translate at both ends
        native = dialect.passthrough_adapter(pconf)
        if native is not None:
            adapter, dialect = native, None
    upstream_request = adapter.build_request(call, pconf, key)
    authorize = getattr(adapter, "authorize", None)
    app = request.app
    upstream: UpstreamAnswer | None = None
    streaming = False
    try:
        # one deadline for everything before the first byte reaches the client
        async with app[DEADLINES].at(deadline):
            if authorize is not None:
                await authorize(upstream_request, pconf, key, app[SESSION], provider.state)
            body: Any = upstream_request.body
            if callable(body):
                body = body()  # a fresh payload per attempt (streamed uploads)
            outcome.upstream_started_at = asyncio.get_running_loop().time()
            upstream = await app[CLIENT].send(upstream_request.method, upstream_request.url,
                                              upstream_request.headers, body)
            outcome.upstream_status = upstream.status
            if upstream.status >= 400:
                raw = await upstream.read()
                raise adapter.parse_error(call, upstream.status, upstream.headers, raw)
            if not call.stream:
                raw = await upstream.read()
                outcome.first_byte_at = asyncio.get_running_loop().time()
                answer = adapter.parse_response(call, upstream.headers, raw)
                if dialect is not None:
                    answer = dialect.translate_response(call, answer)
                return web.Response(body=answer, status=200, headers=_served_by(outcome),
                                    content_type=_content_type(adapter, call, upstream))
            call.upstream_headers = upstream.headers
            decoder = adapter.stream_decoder(call)
            if dialect is not None:
                decoder = DialectDecoder(decoder, dialect.stream_translator(call), dialect)
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
