"""What every JSON endpoint does first: read the body, parse it, find the targets, run dispatch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import OUTCOME, RUNTIME
from bifrost_proxy.errors import BadRequest, PayloadTooLarge
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.routing.dispatch import Outcome, dispatch
from bifrost_proxy.routing.plan import plan

if TYPE_CHECKING:
    from bifrost_proxy.inbound.base import Dialect


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 that says what is wrong with it."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[RUNTIME].current.config.client.max_request_body_size_mb
        raise PayloadTooLarge(f"the request body is larger than the {limit:g} MB allowed "
                              "(client.max_request_body_size_mb)") from None
    if not raw:
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if type(body) is not dict:
        raise BadRequest("the request body must be a JSON object")
    return body


def optional(body: dict[str, Any], name: str, kind: type, what: str) -> Any:
    """``body[name]`` when absent or of ``kind`` (booleans are not numbers here); else a 400 naming it."""
    value = body.get(name)
    if value is None:
        return None
    ok = isinstance(value, bool) if kind is bool else isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise BadRequest(f"'{name}' must be {what}", param=name)
    return value


def serve_json_call(request: web.Request, endpoint: Endpoint, body: dict[str, Any], stream: bool,
                    dialect: "Dialect | None" = None,
                    native_body: dict[str, Any] | None = None,
                    flags: dict[str, Any] | None = None) -> Awaitable[web.StreamResponse]:
    """Plan the call and return dispatch's coroutine for the handler to await (one frame less per resume).

    A client of another API (``inbound/``) passes its ``dialect``, ``body`` translated to OpenAI's chat
    shape with ``model`` already qualified, ``native_body`` as it sent it, and in ``flags`` what a
    passthrough adapter needs from its request (e.g. the client's ``anthropic-beta`` header)."""
    runtime = request.app[RUNTIME].current
    targets = plan(runtime, body, aliased=dialect is not None)
    outcome = Outcome()
    request[OUTCOME] = outcome
    call = Call(endpoint=endpoint, model=targets[0].model, body=body, stream=stream, dialect=dialect,
                native_body=native_body, flags={} if flags is None else flags)
    return dispatch(request, call, targets, outcome)
