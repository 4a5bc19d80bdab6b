"""The one frame every request runs in: route, request id, drain registration, the virtual key (when
governance is on), error shaping, then the access log, metrics and the dashboard's row.

One frame instead of a router walk and a middleware chain: every time a request's task resumes (upstream
headers, body, each stream read), Python passes through every coroutine frame between the task and the
handler, so each layer is paid several times per request. ``serving.GatewayRunner`` makes ``Gateway`` the
low-level server's handler; the concerns stay in their own modules as plain functions.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.web_urldispatcher import PlainResource, UrlMappingMatchInfo

from bifrost_proxy.appkeys import DRAIN, GOVERNANCE, RECORDER
from bifrost_proxy.lifecycle.shutdown import cut_off, track_stream
from bifrost_proxy.middlewares.errors import answer_error
from bifrost_proxy.middlewares.request_id import add_request_id_header, assign_request_id
from bifrost_proxy.observability.access_log import record

GOVERNED = ("/v1/", "/anthropic/", "/genai/")  # the routes a virtual key is needed for (governance.enabled)


class Gateway:
    """The low-level server's request handler for one (frozen) app."""

    __slots__ = ("app", "drain", "recorder", "governance", "plain")

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.drain = app[DRAIN]
        self.recorder = app[RECORDER]
        self.governance = app.get(GOVERNANCE)  # virtual keys (issue 12), when the config has them
        # (method, path) -> the route's match info, made once: a plain route's match info holds no
        # per-request values, so every request of that route can share it
        self.plain: dict[tuple[str, str], UrlMappingMatchInfo] = {}
        for route in app.router.routes():
            if isinstance(route.resource, PlainResource) and route.method != "*":
                info = UrlMappingMatchInfo({}, route)
                info.add_app(app)
                info.freeze()
                self.plain[(route.method, route.resource.canonical)] = info

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        assign_request_id(request)
        drain = self.drain
        task = asyncio.current_task()
        drain.tasks.add(task)
        start = asyncio.get_running_loop().time()  # loop time, like Outcome.first_byte_at
        started = time.perf_counter()  # uvloop's loop.time() moves in millisecond steps: too coarse for durations
        status = 499  # the client left before we answered (nginx's convention)
        grant = None
        try:
            try:
                info = self.plain.get((request.method, request.rel_url.path_safe))
                if info is None:
                    info = await self._resolve(request)
                request._match_info = info
                governance = self.governance
                if governance is not None and governance.enforcing and request.path.startswith(GOVERNED):
                    grant = governance.authenticate(request)  # 401 here, before the body is read; issue 12
                if request.headers.get("Expect") is not None:  # "100-continue", as Application._handle does
                    response = await info.expect_handler(request)
                    await request.writer.drain()
                    if response is None:
                        response = await info.handler(request)
                else:
                    response = await info.handler(request)
            except asyncio.CancelledError:
                if task not in drain.cut:
                    raise  # the client left: not ours to swallow
                task.uncancel()
                response = await cut_off(request, drain.streams.get(task))
            except Exception as exc:
                status = 500  # unless answered below
                response = answer_error(request, exc)
            status = response.status
            return response
        finally:
            drain.done(task)
            if grant is not None:
                self.governance.finish(grant, request, status)  # charge the virtual key what the call used
            duration = time.perf_counter() - started
            record(request, status, duration, start)
            self.recorder.record(request, status, duration, start)  # the dashboard: no I/O, no lock

    async def _resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        """A route with parts, or none (its handler raises 404/405, which ``answer_error`` shapes)."""
        info = await self.app.router.resolve(request)
        info.add_app(self.app)
        info.freeze()
        return info  # type: ignore[return-value]


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every response gets its ``X-Request-ID``; streamed ones are remembered for the drain."""
    add_request_id_header(request, response)
    track_stream(request, response)
