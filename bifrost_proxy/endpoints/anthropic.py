"""POST /anthropic/v1/messages and POST /anthropic/v1/messages/count_tokens: Anthropic's Messages API.

Claude Code and the Anthropic SDKs point their base URL at ``/anthropic``. A model is ``PROVIDER/MODEL``
or, after ``model_aliases``, a bare name of the ``anthropic`` provider. The request goes untouched to a
provider that speaks Anthropic's API natively (``inbound/anthropic/passthrough.py``) and translated
through OpenAI's chat shape to every other; each attempt of dispatch picks the path for its own provider,
so a fallback may take the other one. The optional ``fallbacks`` field (the gateway's own, as on
``/v1/chat/completions``) never goes upstream.
"""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import DIALECT, RUNTIME
from bifrost_proxy.endpoints.common import read_json, serve_json_call
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.anthropic.count_tokens import estimate_input_tokens
from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC
from bifrost_proxy.inbound.anthropic.passthrough import BETA_FLAG, VERSION_FLAG
from bifrost_proxy.inbound.anthropic.request import check_request, to_openai
from bifrost_proxy.providers.base import Endpoint
from bifrost_proxy.routing.plan import plan, qualify
from bifrost_proxy.routing.runtime import Runtime


async def messages(request: web.Request) -> web.StreamResponse:
    request[DIALECT] = ANTHROPIC  # first: even a bad-JSON 400 is answered in Anthropic's shape
    native = await read_json(request)
    check_request(native)
    runtime = request.app[RUNTIME].current
    head = _routing(runtime, native)
    targets = plan(runtime, head, aliased=True)
    native_first = ANTHROPIC.passthrough_adapter(targets[0].provider.config) is not None
    natives = [t for t in targets if ANTHROPIC.passthrough_adapter(t.provider.config) is not None]
    if len(natives) == len(targets):
        body = head  # every target takes the request as it is: nothing to translate
    else:
        try:
            body = {**to_openai(native, head["model"]), **head}
        except BadRequest:
            if not native_first:
                raise
            # what only Anthropic can do: only the providers that speak its API may serve the request
            body = {**head, "fallbacks": [t.label for t in natives[1:]]}
    return await serve_json_call(request, Endpoint.CHAT, body, native.get("stream") is True, dialect=ANTHROPIC,
                                 native_body=native, flags=_flags(request))


async def count_tokens(request: web.Request) -> web.StreamResponse:
    request[DIALECT] = ANTHROPIC
    native = await read_json(request)
    check_request(native, counting=True)
    runtime = request.app[RUNTIME].current
    head = _routing(runtime, native)
    head["fallbacks"] = []  # a count is answered by the model's own provider, or estimated
    target = plan(runtime, head, aliased=True)[0]
    if ANTHROPIC.passthrough_adapter(target.provider.config) is None:
        body = orjson.dumps({"input_tokens": estimate_input_tokens(native)})
        return web.Response(body=body, content_type="application/json")
    return await serve_json_call(request, Endpoint.COUNT_TOKENS, head, False, dialect=ANTHROPIC,
                                 native_body=native, flags=_flags(request))


def _routing(runtime: Runtime, native: dict[str, Any]) -> dict[str, Any]:
    """``model`` (and ``fallbacks``, taken out of the native body) as ``PROVIDER/MODEL`` for the planner."""
    head: dict[str, Any] = {"model": qualify(runtime, native["model"], ANTHROPIC.default_provider)}
    fallbacks = native.pop("fallbacks", None)
    if fallbacks is not None:
        head["fallbacks"] = [qualify(runtime, f, ANTHROPIC.default_provider) for f in fallbacks] \
            if isinstance(fallbacks, list) else fallbacks
    return head


def _flags(request: web.Request) -> dict[str, Any]:
    """The client's own Anthropic headers, for a passthrough to send on (never its key)."""
    flags: dict[str, Any] = {}
    for name in (VERSION_FLAG, BETA_FLAG):
        value = request.headers.get(name)
        if value:
            flags[name] = value
    return flags
