"""Every error becomes the contract's JSON shape with a fitting status; never a traceback.

An error raised after a streamed 200 was committed cannot become a second response: it is logged and
re-raised, and aiohttp closes the connection (the client sees a cut stream without ``[DONE]``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from bifrost_proxy.appkeys import DIALECT, OUTCOME
from bifrost_proxy.errors import BadRequest, GatewayError, NotFound, PayloadTooLarge
from bifrost_proxy.inbound.paths import dialect_for_path

if TYPE_CHECKING:
    from bifrost_proxy.inbound.base import Dialect

log = logging.getLogger("bifrost_proxy.errors")


def error_response(error: GatewayError, attempts: int = 0, dialect: "Dialect | None" = None) -> web.Response:
    headers = error.headers()
    if attempts:
        headers["x-bifrost-attempts"] = str(attempts)  # how many upstream calls this error cost
    status, body = dialect.error_response(error) if dialect is not None else (error.status, error.to_body())
    return web.Response(status=status, body=body, content_type="application/json", headers=headers or None)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return NotFound(f"no route {request.method} {request.path[:200]}; see the endpoints in README.md",
                        code="unknown_route")
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return GatewayError(f"method {request.method} is not allowed on {request.path[:200]} (allowed: {allowed})",
                            status=405, code="method_not_allowed")
    if exc.status == 413:
        return PayloadTooLarge("the request body is too large (client.max_request_body_size_mb)")
    if 400 <= exc.status < 500:
        return BadRequest(exc.reason or "bad request", status=exc.status)
    return GatewayError("internal error", status=exc.status)


def _dialect(request: web.Request) -> "Dialect | None":
    """The client's own API: set by its handler, else told by the path (an error before the handler ran)."""
    dialect = request.get(DIALECT)
    return dialect if dialect is not None else dialect_for_path(request.path)


def _started(request: web.Request) -> bool:
    """Has a response already begun for this request? (starlette's ``response_started``)"""
    outcome = request.get(OUTCOME)
    if outcome is not None and outcome.committed:
        return True
    writer = request.writer
    return writer is not None and writer.output_size > 0


def answer_error(request: web.Request, exc: Exception) -> web.Response:
    """The contract's JSON answer for ``exc`` raised by a handler; re-raises what cannot be answered."""
    if isinstance(exc, GatewayError):
        if _started(request):
            log.error("error after the response started serving %s %s: %s", request.method,
                      request.path[:200], exc.message)
            raise exc
        outcome = request.get(OUTCOME)
        return error_response(exc, outcome.attempts if outcome is not None else 0, _dialect(request))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return error_response(_from_http_exception(request, exc), dialect=_dialect(request))
    if isinstance(exc, (RequestPayloadError, HttpProcessingError)):
        # the body's bytes are broken (bad gzip/deflate, truncated chunks): the client's fault, not ours
        return error_response(BadRequest("the request body could not be read: it is truncated, or its "
                                         "Content-Encoding does not match its bytes", code="unreadable_body"),
                              dialect=_dialect(request))
    if isinstance(exc, ConnectionResetError):
        # the client went away while we wrote to it; nobody is left to answer
        log.debug("client connection lost: %s", type(exc).__name__)
        raise exc
    log.error("unexpected error serving %s %s", request.method, request.path[:200], exc_info=exc)
    if _started(request):
        raise exc
    return error_response(GatewayError("internal error in the gateway; the request id is in X-Request-ID"),
                          dialect=_dialect(request))
