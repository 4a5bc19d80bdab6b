"""The one middleware: request id, drain registration, error shaping, then the access log and metrics.

One frame instead of four: every time a request's task resumes (upstream headers, body, each stream
read), Python passes through every coroutine frame between the task and the handler, so each middleware
layer is paid several times per request. The concerns stay in their own modules as plain functions.
"""
from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from bifrost_proxy.appkeys import DRAIN, GOVERNANCE, RECORDER
from bifrost_proxy.lifecycle.shutdown import cut_off, track_stream
from bifrost_proxy.middlewares.errors import answer_error
from bifrost_proxy.middlewares.request_id import add_request_id_header, assign_request_id
from bifrost_proxy.observability.access_log import record

GOVERNED = ("/v1/", "/anthropic/", "/genai/")  # the routes a virtual key is needed for (governance.enabled)


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    assign_request_id(request)
    drain = request.app[DRAIN]
    task = asyncio.current_task()
    drain.tasks.add(task)
    start = asyncio.get_running_loop().time()  # loop time, like Outcome.first_byte_at
    started = time.perf_counter()  # uvloop's loop.time() moves in millisecond steps: too coarse for durations
    status = 499  # the client left before we answered (nginx's convention)
    governance = request.app.get(GOVERNANCE)
    grant = None
    try:
        try:
            if governance is not None and governance.enforcing and request.path.startswith(GOVERNED):
                grant = governance.authenticate(request)  # 401 here, before the body is read; issue 12
            response = await handler(request)
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
            governance.finish(grant, request, status)  # charge the virtual key what the call used
        duration = time.perf_counter() - started
        record(request, status, duration, start)
        request.app[RECORDER].record(request, status, duration, start)  # the dashboard: no I/O, no lock


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every response gets its ``X-Request-ID``; streamed ones are remembered for the drain."""
    add_request_id_header(request, response)
    track_stream(request, response)
