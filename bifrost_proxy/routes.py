"""Every route of the gateway, in one table: ``add_routes(router, config)`` is the only place routes are added.

The table is aiohttp's ``UrlDispatcher`` (``app.router``) so that a route with parts (``/genai/.../{model}``)
keeps aiohttp's matching and ``request.match_info``; the request frame (``middlewares/gateway.py``) answers
the plain routes (most of the traffic) from a dict built from this table when the server starts, and asks
the router only for the rest.
"""
from __future__ import annotations

from aiohttp import web

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
from bifrost_proxy.observability.metrics import metrics_endpoint
from bifrost_proxy.ui.pages import add_routes as add_ui_routes


def add_routes(router: web.UrlDispatcher, config: Config) -> None:
    router.add_get("/health", health)
    router.add_get("/metrics", metrics_endpoint)
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/completions", completions)
    router.add_post("/v1/embeddings", embeddings)
    router.add_get("/v1/models", list_models)
    router.add_post("/v1/audio/speech", speech)
    router.add_post("/v1/audio/transcriptions", transcriptions)
    router.add_post("/v1/audio/translations", translations)
    router.add_post("/anthropic/v1/messages", anthropic.messages)
    router.add_post("/anthropic/v1/messages/count_tokens", anthropic.count_tokens)
    router.add_post("/v1/responses", create_response)
    add_genai_routes(router)  # /genai/{v1,v1beta}/models/{model}:generateContent, Gemini's API
    add_ui_routes(router)  # /ui/: the dashboard's page, its files, its event stream and login
    if config.governance.active:  # virtual keys (issue 12): the admin API
        from bifrost_proxy.governance import admin  # its store's dependencies load only then

        admin.add_routes(router)
