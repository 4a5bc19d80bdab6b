"""GET /v1/models: every configured provider's models, prefixed ``provider/``.

Models come from the keys' ``models`` lists; a provider with a ``"*"`` key is also asked for its own
list, all providers at once, each bounded by its first-byte timeout. A provider that cannot answer is
left out of the list rather than failing it.
"""
from __future__ import annotations

import asyncio
import logging

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import RUNTIME, SESSION
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.routing.runtime import ProviderRuntime
from bifrost_proxy.upstream.exceptions import map_client_errors

log = logging.getLogger("bifrost_proxy.models")
UPSTREAM_LIST_TIMEOUT = 10.0


async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME].current
    session = request.app[SESSION]
    providers = list(runtime.providers.values())
    listed = await asyncio.gather(*(_provider_models(p, session) for p in providers))
    data = []
    for provider, models in zip(providers, listed):
        name = provider.config.name
        for model in sorted(models):
            data.append({"id": f"{name}/{model}", "object": "model", "created": 0, "owned_by": name})
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")


async def _provider_models(provider: ProviderRuntime, session) -> set[str]:
    models: set[str] = set()
    wildcard_key = None
    for key in provider.config.keys:
        models.update(m for m in key.models if m != "*")
        models.update(key.aliases)
        if "*" in key.models and wildcard_key is None:
            wildcard_key = key
    if wildcard_key is None or not provider.adapter.supports(Endpoint.MODELS):
        return models
    call = Call(endpoint=Endpoint.MODELS, model="", body={})
    req = provider.adapter.build_request(call, provider.config, wildcard_key)
    timeout = min(UPSTREAM_LIST_TIMEOUT, provider.config.network.default_request_timeout)
    try:
        with map_client_errors(provider.config.name, "listing models"):
            async with asyncio.timeout(timeout):
                authorize = getattr(provider.adapter, "authorize", None)
                if authorize is not None:
                    await authorize(req, provider.config, wildcard_key, session, provider.state)
                async with session.request(req.method, req.url, headers=req.headers) as resp:
                    raw = await resp.read()
                    if resp.status >= 400:
                        raise provider.adapter.parse_error(call, resp.status, resp.headers, raw)
        listing = orjson.loads(raw)
        models.update(str(m["id"]) for m in listing.get("data", []) if isinstance(m, dict) and m.get("id"))
    except (GatewayError, orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        log.warning("could not list the models of provider %r: %s", provider.config.name,
                    getattr(exc, "message", type(exc).__name__))
    return models
