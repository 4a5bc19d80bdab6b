"""Serve an app with aiohttp's low-level ``web.Server``: no router walk, no middleware chain (issue 15).

``web.AppRunner`` sends every request through ``Application._handle``: the router's resolve, a middleware
chain rebuilt around the handler, and an extra coroutine frame paid on every resume of the request.
``GatewayRunner`` is an ``AppRunner`` (same start-up, signals, cleanup and shutdown of the app) whose
server calls ``middlewares.gateway.Gateway`` instead: plain routes come from a dict built from the app's
one route table (``routes.py``) when the server starts; routes with parts still go through the router.
Requests are ``web.Request``s as before (``request.app``, ``request.match_info``, ``on_response_prepare``).
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from bifrost_proxy.appkeys import RUNTIME
from bifrost_proxy.middlewares.gateway import Gateway
from bifrost_proxy.routing.runtime import RuntimeHolder

# header lines up to 64 KiB (aiohttp's default is 8 KiB): long bearer tokens and forwarded chains fit
MAX_FIELD_SIZE = 65536


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` for a gateway app: the same arguments, our request frame."""

    async def _make_server(self) -> web.Server:
        app = self.app
        app.on_startup.freeze()
        await app.startup()
        app.freeze()
        kwargs = {"max_field_size": MAX_FIELD_SIZE, **self._kwargs}
        client_max_size = app[RUNTIME].current.config.client.max_request_body_bytes
        loop = asyncio.get_running_loop()

        def make_request(message: RawRequestMessage, payload: StreamReader, protocol: RequestHandler,
                         writer: AbstractStreamWriter, task: "asyncio.Task[None]") -> web.Request:
            return web.Request(message, payload, protocol, writer, task, loop, client_max_size=client_max_size)

        return web.Server(Gateway(app), request_factory=make_request, loop=loop, **kwargs)


def runner_for(app: web.Application, **kwargs: Any) -> web.AppRunner:
    """A gateway app gets its own runner; any other app (a test's fake upstream) the usual one."""
    gateway = isinstance(app.get(RUNTIME), RuntimeHolder)  # what make_app builds
    return GatewayRunner(app, **kwargs) if gateway else web.AppRunner(app, **kwargs)
