"""make_app(config) -> the application: its state (``appkeys.py``), resources, hooks and routes.

It is served by ``serving.GatewayRunner`` (aiohttp's low-level server with our own frame per request, see
``middlewares/gateway.py``), not by ``web.AppRunner``: the ``web.Application`` is the holder of the state,
the route table and the signals, and its router is walked only for routes with parts.
"""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.appkeys import DEADLINES, DRAIN, METRICS, RUNTIME
from bifrost_proxy.config.schema import Config
from bifrost_proxy.lifecycle.shutdown import Drain
from bifrost_proxy.middlewares.gateway import on_response_prepare
from bifrost_proxy.observability.metrics import Metrics, metrics_ctx
from bifrost_proxy.routes import add_routes
from bifrost_proxy.routing.deadlines import Deadlines
from bifrost_proxy.routing.runtime import Runtime, RuntimeHolder
from bifrost_proxy.ui import setup_ui
from bifrost_proxy.upstream.session import session_ctx


def make_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.client.max_request_body_bytes)
    app[RUNTIME] = RuntimeHolder(Runtime.build(config))
    app[DRAIN] = Drain()
    app[DEADLINES] = Deadlines()
    app[METRICS] = Metrics(app[RUNTIME], app[DRAIN])
    app.cleanup_ctx.append(session_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.on_response_prepare.append(on_response_prepare)
    add_routes(app.router, config)
    if config.governance.active:
        from bifrost_proxy.governance.setup import add_governance  # its store's dependencies load only then

        add_governance(app, config)
    setup_ui(app)
    return app
