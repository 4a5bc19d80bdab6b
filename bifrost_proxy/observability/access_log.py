"""One structured line per request, written once, after the response is done. Never a key or a prompt."""
from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from bifrost_proxy.appkeys import OUTCOME, REQUEST_ID

log = logging.getLogger("bifrost_proxy.access")


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not log.isEnabledFor(logging.INFO):
        return await handler(request)
    start = time.perf_counter()
    status = 499  # the client left before we answered (nginx's convention)
    try:
        response = await handler(request)
        status = response.status
        return response
    except asyncio.CancelledError:
        raise
    except BaseException:
        status = 500
        raise
    finally:
        outcome = request.get(OUTCOME)
        entry = {
            "request_id": request.get(REQUEST_ID),
            "client": request.remote,
            "method": request.method,
            "route": request.path[:200],
            "status": status,
            "provider": outcome.provider if outcome else None,
            "model": outcome.model if outcome else None,
            "attempts": outcome.attempts if outcome else 0,
            "duration_ms": round((time.perf_counter() - start) * 1000, 3),
        }
        log.info(orjson.dumps(entry).decode())
