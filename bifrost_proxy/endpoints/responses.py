"""POST /v1/responses: OpenAI's Responses API, passed through or translated per provider (``inbound/responses``)."""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.appkeys import DIALECT, RUNTIME
from bifrost_proxy.endpoints.common import read_json, serve_json_call
from bifrost_proxy.inbound.responses.dialect import DIALECT as RESPONSES, speaks_responses
from bifrost_proxy.inbound.responses.request import check_request, to_chat_body
from bifrost_proxy.providers.base import Endpoint
from bifrost_proxy.routing.plan import plan, qualify


async def create_response(request: web.Request) -> web.StreamResponse:
    request[DIALECT] = RESPONSES  # first: even a body that is not JSON is answered in this API's shape
    native = await read_json(request)
    stream = check_request(native)
    runtime = request.app[RUNTIME].current
    route = {"model": qualify(runtime, native["model"], RESPONSES.default_provider)}
    fallbacks = native.get("fallbacks")
    if fallbacks is not None:
        route["fallbacks"] = [qualify(runtime, f, RESPONSES.default_provider) for f in fallbacks]
    # translate only when some target has no Responses API: passthrough alone serves every field
    translated = next((t.provider.config.name for t in plan(runtime, route)
                       if not speaks_responses(t.provider.config)), None)
    body = to_chat_body(native, translated) if translated is not None else {}
    body.update(route)
    if stream:
        body["stream"] = True
        # the usage chunk is the translator's to read (response.completed carries usage); not every
        # adapter reports stream usage unasked
        body["stream_options"] = {"include_usage": True}
    return await serve_json_call(request, Endpoint.CHAT, body, stream, dialect=RESPONSES, native_body=native)
