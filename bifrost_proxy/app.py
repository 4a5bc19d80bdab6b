"""make_app(config) -> the aiohttp Application: routes, middleware order, resources."""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.appkeys import DRAIN, METRICS, RUNTIME
from bifrost_proxy.config.schema import Config
from bifrost_proxy.endpoints import anthropic
from bifrost_proxy.endpoints.chat import chat_completions, completions
from bifrost_proxy.endpoints.embeddings import embeddings
from bifrost_proxy.endpoints.genai import add_routes as add_genai_routes
from bifrost_proxy.endpoints.models import list_models
from bifrost_proxy.endpoints.ops import health
from bifrost_proxy.endpoints.responses import create_response
from bifrost_proxy.endpoints.speech import speech
from bifrost_proxy.endpoints.transcription import transcriptions, translations
from bifrost_proxy.lifecycle.shutdown import Drain
from bifrost_proxy.middlewares.gateway import gateway_middleware, on_response_prepare
from bifrost_proxy.observability.metrics import Metrics, metrics_ctx, metrics_endpoint
from bifrost_proxy.routing.runtime import Runtime, RuntimeHolder
from bifrost_proxy.ui import setup_ui
from bifrost_proxy.upstream.session import session_ctx


def make_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=config.client.max_request_body_bytes,
        handler_args={"max_field_size": 65536},
    )
    app[RUNTIME] = RuntimeHolder(Runtime.build(config))
    app[DRAIN] = Drain()
    app[METRICS] = Metrics(app[RUNTIME], app[DRAIN])
    app.cleanup_ctx.append(session_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.on_response_prepare.append(on_response_prepare)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/translations", translations)
    app.router.add_post("/anthropic/v1/messages", anthropic.messages)
    app.router.add_post("/anthropic/v1/messages/count_tokens", anthropic.count_tokens)
    app.router.add_post("/v1/responses", create_response)
    add_genai_routes(app.router)  # /genai/{v1,v1beta}/models/{model}:generateContent, Gemini's API
    if config.governance.active:
        from bifrost_proxy.governance.setup import add_governance  # its store's dependencies load only then

        add_governance(app, config)
    setup_ui(app)
    return app
