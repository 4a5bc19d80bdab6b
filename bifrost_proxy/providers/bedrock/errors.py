"""Bedrock's errors: HTTP error answers and the exception frames of a ConverseStream, mapped to our tree.

An error answer is ``{"message": "..."}`` (sometimes ``"Message"``) with its kind in the ``x-amzn-ErrorType``
header (``ThrottlingException:http://internal.amazon.com/coral/...``) or a ``__type`` field
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors).
A stream reports failures as frames with ``:message-type`` ``exception`` (``:exception-type`` names it, the
payload is ``{"message": ...}``) or ``error`` (``:error-code`` / ``:error-message`` headers).
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import GatewayError, from_upstream_status
from bifrost_proxy.providers.errors import parse_retry_after

# Error kinds whose status we change: bad credentials come back as 403 but mean "this key is wrong" (401);
# a model that is not ready is answered 429 but is an availability problem, not the caller's rate.
ERROR_STATUS = {
    "UnrecognizedClientException": 401,
    "InvalidSignatureException": 401,
    "IncompleteSignatureException": 401,
    "MissingAuthenticationTokenException": 401,
    "ExpiredTokenException": 401,
    "InvalidClientTokenId": 401,
    "SignatureDoesNotMatch": 401,
    "AccessDeniedException": 403,
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ModelNotReadyException": 503,
    "ServiceUnavailableException": 503,
    "ModelTimeoutException": 504,
    "ModelErrorException": 502,
}

# ConverseStream exception members (lower camel case as the :exception-type header spells them).
STREAM_EXCEPTION_STATUS = {
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "modelNotReadyException": 503,
    "validationException": 400,
    "internalServerException": 502,
    "modelStreamErrorException": 502,
    "modelTimeoutException": 504,
}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively, from aiohttp's CIMultiDict or from a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def error_kind(headers: Mapping[str, str], obj: Any) -> str | None:
    raw = header(headers, "x-amzn-ErrorType")
    if not raw and isinstance(obj, dict):
        raw = obj.get("__type") or obj.get("code")
    if not raw or not isinstance(raw, str):
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] or None


def parse_bedrock_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """A non-2xx answer of Converse, ConverseStream or InvokeModel."""
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    message = None
    if isinstance(obj, dict):
        message = obj.get("message") or obj.get("Message")
    kind = error_kind(headers, obj)
    if not message or not isinstance(message, str):
        message = f"Bedrock answered HTTP {status}" + (f" ({kind})" if kind else "")
    mapped = ERROR_STATUS.get(kind or "", status)
    retry_after = header(headers, "Retry-After")
    return from_upstream_status(mapped, message, code=kind,
                                retry_after=parse_retry_after({"Retry-After": retry_after} if retry_after else {}))


def stream_exception(kind: str, payload: bytes) -> GatewayError:
    """An ``exception`` frame inside a ConverseStream."""
    message = None
    try:
        obj = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        message = obj.get("message") or obj.get("Message") or obj.get("originalMessage")
    if not message or not isinstance(message, str):
        message = f"Bedrock reported {kind or 'an exception'} mid-stream"
    return from_upstream_status(STREAM_EXCEPTION_STATUS.get(kind, 502), message, code=kind or None)


def stream_error(code: str, message: str) -> GatewayError:
    """An ``error`` frame (a protocol-level failure of the stream itself)."""
    return from_upstream_status(502, message or f"Bedrock ended the stream with error {code or 'unknown'}",
                                code=code or "upstream_stream_error")
