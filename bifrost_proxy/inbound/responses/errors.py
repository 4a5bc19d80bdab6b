"""Errors of the Responses API: OpenAI's own error body before an answer started, and the ``error`` object
of the ``response.failed`` event that ends a stream that failed after it started."""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import GatewayError

# https://platform.openai.com/docs/api-reference/responses/object#responses/object-error: the codes a
# Response's error carries; a gateway failure mid-stream is one of these two
RATE_LIMIT_CODE = "rate_limit_exceeded"
SERVER_CODE = "server_error"


def error_response(error: GatewayError) -> tuple[int, bytes]:
    """The Responses API answers errors as chat completions does: ``{"error": {message, type, param, code}}``."""
    return error.status, error.to_body()


def response_error(error: GatewayError) -> dict[str, Any]:
    """``response.error`` of a failed Response: the documented code, and our message (already redacted)."""
    code = RATE_LIMIT_CODE if error.status == 429 else SERVER_CODE
    return {"code": code, "message": error.message}
