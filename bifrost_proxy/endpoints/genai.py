"""Gemini's API: ``POST /genai/{v1,v1beta}/models/{model}:generateContent`` and ``:streamGenerateContent``.

google-genai 3.x posts to ``{base_url}/{api_version}/models/{model}:{method}`` with api_version ``v1`` by
default (``v1beta`` when asked), so ``HttpOptions(base_url="http://gateway/genai")`` reaches these
routes. The model keeps its provider prefix and so holds a slash (``models/openai/gpt-4o-mini:...``):
the route matches the whole tail and the method is what follows its last ``:``. The client's key
(``x-goog-api-key`` or ``?key=``) is the virtual key's business and is never sent upstream: upstream
requests are built from the provider's config alone.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from bifrost_proxy.appkeys import DIALECT, RUNTIME
from bifrost_proxy.endpoints.common import read_json, serve_json_call
from bifrost_proxy.errors import BadRequest, NotFound
from bifrost_proxy.inbound.genai.dialect import GENAI
from bifrost_proxy.inbound.genai.request import Translation, to_openai
from bifrost_proxy.providers.base import Endpoint
from bifrost_proxy.routing.plan import plan, qualify
from bifrost_proxy.routing.runtime import Runtime

VERSIONS = frozenset({"v1", "v1beta"})
METHODS = {"generateContent": False, "streamGenerateContent": True}  # method -> stream
SERVED = "POST /genai/v1beta/models/PROVIDER/MODEL:generateContent (or :streamGenerateContent?alt=sse)"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/genai/{version}/models/{target:.+}", generate_content)
    # everything else under /genai answers in Google's error shape, for Gemini clients to read
    router.add_route("*", "/genai/{tail:.*}", not_served)


async def generate_content(request: web.Request) -> web.StreamResponse:
    request[DIALECT] = GENAI  # first: every error from here on is answered in Google's shape
    version = request.match_info["version"]
    model, colon, method = request.match_info["target"].rpartition(":")
    stream = METHODS.get(method) if colon else None
    if version not in VERSIONS or stream is None:
        raise NotFound(f"{request.path[:200]} is not served; this gateway serves {SERVED}, API versions v1 "
                       "and v1beta", code="unknown_route")
    if stream and request.query.get("alt") != "sse":
        raise BadRequest("streamGenerateContent is served as server-sent events only: add ?alt=sse", param="alt")
    if not model:
        raise BadRequest(f"the path must name a model: {SERVED}", param="model")
    body = await read_json(request)
    runtime = request.app[RUNTIME].current
    translation = to_openai(body, qualify(runtime, model, GENAI.default_provider), stream)
    fallbacks = translation.body.get("fallbacks")
    if isinstance(fallbacks, list):  # bare names are Gemini models here too
        translation.body["fallbacks"] = [qualify(runtime, f, GENAI.default_provider) for f in fallbacks]
    if translation.gemini_only.found:
        _refuse_translated(runtime, translation)
    return await serve_json_call(request, Endpoint.CHAT, translation.body, stream, dialect=GENAI,
                                 native_body=translation.native)


def _refuse_translated(runtime: Runtime, translation: Translation) -> None:
    """Gemini-only features are fine when every target gets the request untouched; else 400 naming one."""
    for target in plan(runtime, translation.body):
        if not GENAI.speaks_natively(target.provider.config, target.model):
            param, what = translation.gemini_only.found[0]
            raise BadRequest(f"{param}: {what} is served only by a Gemini upstream (type gemini, or vertex "
                             f"Gemini models), and {target.label} is reached by translation; drop it or choose "
                             "a Gemini model", param=param, code="unsupported_parameter")


async def not_served(request: web.Request) -> Any:
    request[DIALECT] = GENAI
    raise NotFound(f"no route {request.method} {request.path[:200]}; this gateway serves {SERVED}",
                   code="unknown_route")
