"""The one exception tree of the gateway.

Every failure a client can see is a ``GatewayError``: its class says the HTTP status and the OpenAI-style
error ``type``; ``to_body()`` gives the contract's JSON shape. Messages name what was wrong and what to do,
never a key, a header value or a prompt.
"""
from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    """Base of every error answered to a client. ``retryable`` says whether another try may succeed."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after

    def redact(self, secret: str, name: str) -> None:
        """An upstream may echo the key it was sent in its error message: never pass that on."""
        if secret and secret in self.message:
            self.message = self.message.replace(secret, f"<key {name}>")

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}

    def to_body(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(0, round(self.retry_after)))}


class BadRequest(GatewayError):
    """The client's request is malformed: bad JSON, a missing or wrong-typed field, an unknown format."""

    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    """The upstream (or our own provider queue) refuses more work now; may succeed later."""

    status = 429
    type = "rate_limit_error"
    retryable = True


class UpstreamError(GatewayError):
    """The upstream is unreachable, reset the connection, or answered something malformed."""

    status = 502
    type = "upstream_error"
    retryable = True


class UpstreamUnavailable(GatewayError):
    """The upstream answered 5xx or said it is overloaded."""

    status = 503
    type = "api_error"
    retryable = True


class UpstreamTimeout(GatewayError):
    """No first byte within ``default_request_timeout_in_seconds``, or a stream stalled or ran too long."""

    status = 504
    type = "timeout_error"
    retryable = True


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


def from_upstream_status(status: int, message: str, *, code: str | None = None, param: str | None = None,
                         retry_after: float | None = None, error_type: str | None = None) -> GatewayError:
    """Map an upstream's error status to our tree, keeping 4xx statuses and messages as the contract asks."""
    cls: type[GatewayError]
    if status == 401:
        cls = AuthenticationFailed
    elif status == 403:
        cls = PermissionDenied
    elif status == 404:
        cls = NotFound
    elif status == 413:
        cls = PayloadTooLarge
    elif status == 429:
        cls = RateLimited
    elif status == 504:
        cls = UpstreamTimeout
    elif status in (500, 503, 529):
        cls = UpstreamUnavailable
    elif status >= 500:
        cls = UpstreamError
    else:
        cls = BadRequest
    out_status = 503 if status == 529 else (status if status >= 400 else 502)
    err = cls(message, code=code, param=param, status=out_status, retry_after=retry_after,
              retryable=status in RETRYABLE_STATUSES)
    if error_type:
        err.type = error_type
    return err
