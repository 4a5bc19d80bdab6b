"""The one upstream ``ClientSession`` of an app (and the ``UpstreamClient`` over it), opened and closed in
``cleanup_ctx``."""
from __future__ import annotations

import ssl as ssl_module
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from bifrost_proxy.appkeys import CLIENT, RUNTIME, SESSION
from bifrost_proxy.upstream.client import UpstreamClient


def make_session(max_conns_per_host: int = 0, ssl: ssl_module.SSLContext | bool = True) -> aiohttp.ClientSession:
    """``ssl``: the TLS context for https upstreams (True: the system's trusted CAs, verified)."""
    connector = aiohttp.TCPConnector(
        ssl=ssl,
        limit=0,  # the provider limiters bound concurrency; the pool must never be the queue
        limit_per_host=max_conns_per_host,
        ttl_dns_cache=300,
        keepalive_timeout=60,
        enable_cleanup_closed=False,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # per-request deadlines are set by dispatch; no session-wide total timeout
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, ceil_threshold=60),
        auto_decompress=True,
        raise_for_status=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    session = make_session(app[RUNTIME].current.config.client.max_conns_per_host)
    app[SESSION] = session
    app[CLIENT] = UpstreamClient(session)
    yield
    await session.close()
