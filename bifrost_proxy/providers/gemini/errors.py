"""Google API error bodies -> ``GatewayError`` (https://cloud.google.com/apis/design/errors).

Shared by the Gemini API and Vertex AI: ``{"error": {"code": 429, "message": "...", "status":
"RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay":
"37s"}, ...]}}``. The canonical ``status`` name decides our status; the HTTP status is the fallback.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import GatewayError, from_upstream_status
from bifrost_proxy.providers.errors import parse_retry_after

# google.rpc.Code names -> the HTTP status we answer with.
STATUS_NAMES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 502,
    "UNKNOWN": 502,
    "DATA_LOSS": 502,
    "DEADLINE_EXCEEDED": 504,
}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def parse_google_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """An error answer (HTTP ``status`` >= 400) in Google's shape, or anything else, mapped to our tree."""
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    err = google_error(obj, status, headers)
    if err is None:
        return from_upstream_status(status, f"the upstream answered HTTP {status}",
                                    retry_after=parse_retry_after(headers))
    return err


def google_error(obj: Any, status: int = 502, headers: Mapping[str, str] | None = None) -> GatewayError | None:
    """The error in ``obj`` (a parsed body or stream event), or None when ``obj`` is not an error."""
    if isinstance(obj, list) and obj:  # the JSON-array stream framing wraps errors in a list
        obj = obj[0]
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return None
    name = err.get("status") if isinstance(err.get("status"), str) else None
    out_status = STATUS_NAMES.get(name or "", status if status >= 400 else 502)
    details = err.get("details") if isinstance(err.get("details"), list) else []
    reasons = [d.get("reason") for d in details if isinstance(d, dict) and d.get("@type") == ERROR_INFO]
    code = name
    if any(isinstance(r, str) and r.startswith("API_KEY_") for r in reasons):
        # Gemini answers a bad key with 400 INVALID_ARGUMENT; the gateway must see it as the key's fault
        out_status, code = 401, "invalid_api_key"
    retry_after = _retry_delay(details)
    if retry_after is None and headers is not None:
        retry_after = parse_retry_after(headers)
    message = str(err.get("message") or f"the upstream reported {name or 'an error'}")
    return from_upstream_status(out_status, message, code=code, retry_after=retry_after)


def _retry_delay(details: list[Any]) -> float | None:
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO:
            delay = detail.get("retryDelay")
            # a protobuf Duration in JSON: decimal seconds with an "s" suffix ("37s", "0.5s")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return max(0.0, float(delay[:-1]))
                except ValueError:
                    return None
    return None
