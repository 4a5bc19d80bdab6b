"""Every error becomes the contract's JSON shape with a fitting status; never a traceback."""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from bifrost_proxy.errors import BadRequest, GatewayError, NotFound, PayloadTooLarge

log = logging.getLogger("bifrost_proxy.errors")


def error_response(error: GatewayError) -> web.Response:
    headers = error.headers()
    return web.Response(status=error.status, body=error.to_body(), content_type="application/json",
                        headers=headers or None)


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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(request, exc))
    except ConnectionResetError as exc:
        # the client went away while we wrote to it; nobody is left to answer
        log.debug("client connection lost: %s", type(exc).__name__)
        raise
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path[:200])
        return error_response(GatewayError("internal error in the gateway; the request id is in X-Request-ID"))
