"""The floor: the least an aiohttp relay does, with no features. bifrost_proxy is measured against it.

Parse the JSON body (strip the provider prefix from ``model``), forward it upstream with one shared
``ClientSession``, relay the answer, or the stream chunk by chunk as it arrives. Other bodies (multipart
uploads) are forwarded as they are. ``python -m bench.floor --upstream URL --port P``.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import AsyncIterator

import aiohttp
import orjson
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def relay(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    content_type = request.headers.get("Content-Type", "application/json")
    if content_type.startswith("application/json"):
        payload = orjson.loads(body)
        payload["model"] = str(payload.get("model", "")).partition("/")[2] or payload.get("model")
        body = orjson.dumps(payload)
    headers = {"Content-Type": content_type, "Authorization": "Bearer sk-bench"}
    async with request.app[SESSION].post(request.app[UPSTREAM] + request.path, data=body, headers=headers) as up:
        if up.content_type != "text/event-stream":
            return web.Response(status=up.status, body=await up.read(), content_type=up.content_type)
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream",
                                                             "Cache-Control": "no-cache"})
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    yield
    await app[SESSION].close()


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/health", health)
    app.router.add_post("/{path:.*}", relay)
    return app


async def serve(upstream: str, host: str, port: int) -> None:
    runner = web.AppRunner(make_app(upstream), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(args.upstream, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
