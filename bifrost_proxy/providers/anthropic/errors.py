"""Anthropic error answers and stream error events -> the gateway's error tree.

Anthropic answers ``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`` with the
statuses of https://docs.anthropic.com/en/api/errors. 4xx keep their status, message and Anthropic's error
type (``invalid_request_error``, ``rate_limit_error`` ...); 429's ``Retry-After`` is passed on; 529
``overloaded_error`` becomes a retryable 503. Inside a stream the same error arrives as an ``error``
event, mapped by its type since there is no status: overloaded -> 503, rate limit -> 429, api_error and
unknown types -> 502.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError, from_upstream_status
from bifrost_proxy.providers.errors import parse_retry_after

# The status Anthropic gives each error type (its errors page); used for errors inside a stream.
STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def parse_anthropic_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """An Anthropic error answer (any status >= 400), or a body that is not one, mapped by status."""
    etype, message = _fields(_loads(body))
    return _mapped(status, etype, message or f"the upstream answered HTTP {status}",
                   parse_retry_after(headers))


def error_from_event(obj: Any) -> GatewayError:
    """An ``error`` event received mid-stream (``{"type": "error", "error": {...}}``)."""
    etype, message = _fields(obj)
    message = message or "the upstream reported an error mid-stream"
    status = STATUS_BY_TYPE.get(etype or "", 502)
    if status == 502:
        # api_error and types we do not know: the upstream failed while answering
        return UpstreamError(message, code=etype or "api_error")
    return _mapped(status, etype, message, None)


def _mapped(status: int, etype: str | None, message: str, retry_after: float | None) -> GatewayError:
    return from_upstream_status(status, message, retry_after=retry_after,
                                code=etype if status >= 500 else None,
                                error_type=etype if status < 500 else None)


def _fields(obj: Any) -> tuple[str | None, str | None]:
    err = obj.get("error", obj) if isinstance(obj, dict) else None
    if isinstance(err, str):
        return None, err
    if not isinstance(err, dict):
        return None, None
    etype, message = err.get("type"), err.get("message")
    return (etype if isinstance(etype, str) and etype else None,
            str(message) if message else None)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
