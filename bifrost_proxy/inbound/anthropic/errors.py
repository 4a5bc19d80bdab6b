"""GatewayError -> Anthropic's error shape (https://docs.anthropic.com/en/api/errors).

Anthropic answers ``{"type": "error", "error": {"type": ..., "message": ...}}`` with one status per error
type; its SDKs pick the exception class by status (529 -> ``OverloadedError``) and retry 408, 409, 429 and
5xx. So the status says what happened and the type follows the status:

======  ==========================  ====================================================================
status  type                        from
======  ==========================  ====================================================================
400     invalid_request_error       bad JSON, a missing or wrong-typed field, what a provider cannot do
401     authentication_error        the upstream refused every key
402     billing_error               the upstream's own 402
403     permission_error            a refusal of the model or key
404     not_found_error             unknown provider, model or route
413     request_too_large           body larger than ``client.max_request_body_size_mb``
429     rate_limit_error            upstream rate limits, a full provider queue
500     api_error                   the gateway itself, an upstream 500 (502 keeps its status)
504     timeout_error               no first byte in time, a stalled stream
529     overloaded_error            an upstream 503 or 529 (``overloaded_error``), the gateway draining
======  ==========================  ====================================================================

Other 4xx keep their status as ``invalid_request_error``; other 5xx keep theirs as ``api_error``.
Mid-stream, the same body is one ``event: error`` frame, and the stream ends without ``message_stop``.
"""
from __future__ import annotations

import orjson

from bifrost_proxy.errors import GatewayError

TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED = 529


def status_and_type(error: GatewayError) -> tuple[int, str]:
    """The status an Anthropic client gets for ``error``, and the error type that goes with it."""
    status = error.status
    if status == 503 or error.code == "overloaded_error":
        return OVERLOADED, "overloaded_error"
    etype = TYPE_BY_STATUS.get(status)
    if etype is None:
        etype = "api_error" if status >= 500 else "invalid_request_error"
    return status, etype


def error_body(error: GatewayError) -> dict[str, object]:
    _, etype = status_and_type(error)
    return {"type": "error", "error": {"type": etype, "message": error.message}}


def error_response(error: GatewayError) -> tuple[int, bytes]:
    status, _ = status_and_type(error)
    return status, orjson.dumps(error_body(error))


def stream_error_frame(error: GatewayError) -> bytes:
    return b"event: error\ndata: " + orjson.dumps(error_body(error)) + b"\n\n"
