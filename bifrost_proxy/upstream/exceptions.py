"""The one place where aiohttp and asyncio failures of an upstream call become ``GatewayError``s."""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

import aiohttp

from bifrost_proxy.errors import GatewayError, UpstreamError, UpstreamTimeout

UPSTREAM_FAILURES = (TimeoutError, aiohttp.ClientError, ConnectionError, OSError, asyncio.IncompleteReadError)


def translate(exc: BaseException, provider: str, phase: str) -> GatewayError:
    """The most specific ``GatewayError`` for an exception raised while talking to ``provider``."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"provider {provider!r} did not answer in time ({phase})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or "connect failed"
        return UpstreamError(f"provider {provider!r} is unreachable: {reason}", code="upstream_unreachable")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamError(f"provider {provider!r} closed the connection ({phase})", code="upstream_disconnected")
    if isinstance(exc, (aiohttp.ClientPayloadError, asyncio.IncompleteReadError)):
        return UpstreamError(f"provider {provider!r} sent a broken or truncated body ({phase})",
                             code="upstream_broken_body")
    return UpstreamError(f"provider {provider!r} failed ({phase}): {type(exc).__name__}", code="upstream_error")


@contextmanager
def map_client_errors(provider: str, phase: str = "request") -> Iterator[None]:
    """Translate what an upstream call can raise, chaining the original (httpx ``map_httpcore_exceptions``)."""
    try:
        yield
    except GatewayError:
        raise
    except UPSTREAM_FAILURES as exc:
        raise translate(exc, provider, phase) from exc
