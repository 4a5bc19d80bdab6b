"""Cohere error answers and failed generations -> the gateway's error tree.

Cohere answers errors as ``{"id": ..., "message": "..."}`` with the statuses of its API reference
(https://docs.cohere.com/reference/errors): 400/422 bad request, 401 bad key, 402 billing, 404, 429 rate
limit, 498 blocked token, 499 cancelled, 500/503/504. 4xx keep their status and message; 429's
``Retry-After`` is passed on; 5xx are retryable (``from_upstream_status`` decides the class). A generation
that ends with ``finish_reason`` ``ERROR`` (or ``TIMEOUT``) is a failure too, not a finish reason: it
arrives in a 200 answer or in the ``message-end`` event, so it is raised here instead of being relayed.
"""
from __future__ import annotations

from typing import Any, Mapping

from bifrost_proxy.errors import GatewayError, UpstreamError, UpstreamTimeout, from_upstream_status
from bifrost_proxy.providers.errors import cut_message, error_body, parse_retry_after



def parse_cohere_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """A Cohere error answer (any status >= 400), or a body that is not one, mapped by status."""
    message = _message(error_body(body)) or f"the upstream answered HTTP {status}"
    return from_upstream_status(status, message, retry_after=parse_retry_after(headers))


def failed_generation(finish_reason: str, detail: Any) -> GatewayError:
    """``finish_reason`` ERROR or TIMEOUT: the upstream gave up on the answer it had started."""
    text = detail if isinstance(detail, str) and detail else None
    if finish_reason == "TIMEOUT":
        return UpstreamTimeout(cut_message(text or "the upstream timed out while generating the answer"),
                               code="upstream_generation_timeout")
    return UpstreamError(cut_message(text or "the upstream failed while generating the answer"),
                         code="upstream_generation_error")


def event_error(obj: Any) -> GatewayError:
    """An error object found where a stream event should be (no ``type``, a ``message``)."""
    return UpstreamError(_message(obj) or "the upstream reported an error mid-stream", code="cohere_error")


def _message(obj: Any) -> str | None:
    if isinstance(obj, dict):
        # Cohere's {"message": ...}; {"error": ...} from a proxy in front of it
        return _message(obj.get("message") or obj.get("error"))
    if isinstance(obj, str) and obj:
        return cut_message(obj)
    return None
