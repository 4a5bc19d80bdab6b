"""``GatewayError`` -> Google's error body (https://cloud.google.com/apis/design/errors), before a stream
started and as the one event that ends a stream that failed after it started.

``{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": [...]}}``: the
HTTP status stays the gateway's; ``status`` is the google.rpc code name for it (an upstream Google
error keeps its own name); ``details`` carry an ErrorInfo with the gateway's error code as ``reason``, a
BadRequest field violation naming the field when there is one, and a RetryInfo when there is a wait.
google-genai raises ``ClientError``/``ServerError`` from ``code``, for an answer and for a stream event.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import GatewayError
from bifrost_proxy.providers.gemini.errors import STATUS_NAMES as GOOGLE_NAMES

# HTTP status -> google.rpc.Code name (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 405: "UNIMPLEMENTED", 408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
DOMAIN = "bifrost-proxy"


def status_name(error: GatewayError) -> str:
    if error.code in GOOGLE_NAMES and GOOGLE_NAMES[error.code] == error.status:
        return error.code  # a Google upstream's own name for this status (FAILED_PRECONDITION ...)
    name = STATUS_NAMES.get(error.status)
    if name is None:
        name = "INVALID_ARGUMENT" if error.status < 500 else "INTERNAL"
    return name


def error_object(error: GatewayError) -> dict[str, Any]:
    reason = (error.code or error.type).upper()
    details: list[dict[str, Any]] = [{"@type": ERROR_INFO, "reason": reason, "domain": DOMAIN,
                                      "metadata": {"type": error.type}}]
    if error.param:
        details.append({"@type": BAD_REQUEST,
                        "fieldViolations": [{"field": error.param, "description": error.message}]})
    if error.retry_after is not None:
        details.append({"@type": RETRY_INFO, "retryDelay": f"{max(0, round(error.retry_after))}s"})
    return {"error": {"code": error.status, "message": error.message, "status": status_name(error),
                      "details": details}}


def error_body(error: GatewayError) -> bytes:
    return orjson.dumps(error_object(error))


def error_event(error: GatewayError) -> bytes:
    return b"data: " + orjson.dumps(error_object(error)) + b"\r\n\r\n"
