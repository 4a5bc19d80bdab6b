"""GET /health."""
from __future__ import annotations

from aiohttp import web

HEALTH_BODY = b'{"status":"ok"}'


async def health(request: web.Request) -> web.Response:
    return web.Response(body=HEALTH_BODY, content_type="application/json")
