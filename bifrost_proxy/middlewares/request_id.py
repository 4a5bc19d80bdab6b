"""``X-Request-ID``: the client's when it is sane, else a new one; echoed on every response."""
from __future__ import annotations

from random import getrandbits

from aiohttp import web

from bifrost_proxy.appkeys import REQUEST_ID

HEADER = "X-Request-ID"
MAX_LENGTH = 128


def _sane(value: str) -> bool:
    # an id ends up in logs and response headers: printable ASCII only, bounded
    return 0 < len(value) <= MAX_LENGTH and value.isascii() and value.isprintable()


def new_request_id() -> str:
    # 128 random bits like uuid4().hex, without a system call: an id must be unique, not unguessable
    # (random reseeds itself in a forked worker)
    return f"{getrandbits(128):032x}"


def assign_request_id(request: web.Request) -> str:
    """The client's ``X-Request-ID`` when it is sane, else a new one; kept on the request for logs."""
    given = request.headers.get(HEADER)
    request_id = request[REQUEST_ID] = given if given is not None and _sane(given) else new_request_id()
    return request_id


def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """Called as a response is prepared: streamed responses are prepared inside handlers."""
    request_id = request.get(REQUEST_ID)
    if request_id is None:  # the request failed before any middleware ran (e.g. a malformed request line)
        request_id = request[REQUEST_ID] = new_request_id()
    response.headers[HEADER] = request_id
