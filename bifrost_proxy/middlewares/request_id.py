"""``X-Request-ID``: the client's when it is sane, else a new one; echoed on every response."""
from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from bifrost_proxy.appkeys import REQUEST_ID

HEADER = "X-Request-ID"
MAX_LENGTH = 128


def _sane(value: str) -> bool:
    # an id ends up in logs and response headers: printable ASCII only, bounded
    return 0 < len(value) <= MAX_LENGTH and value.isascii() and value.isprintable()


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(HEADER)
    request[REQUEST_ID] = given if given is not None and _sane(given) else uuid.uuid4().hex
    return await handler(request)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: streamed responses are prepared inside handlers, so a middleware is too late."""
    request_id = request.get(REQUEST_ID)
    if request_id is None:  # the request failed before any middleware ran (e.g. a malformed request line)
        request_id = request[REQUEST_ID] = uuid.uuid4().hex
    response.headers[HEADER] = request_id
