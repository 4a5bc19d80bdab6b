"""Run the app: one process, one loop; signals set flags and one coroutine acts on them.

SIGTERM/SIGINT stop accepting and give requests in flight ``server.shutdown_grace_seconds`` to finish;
SIGHUP reloads the config file, keeping the running config when the new one does not validate.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import Callable

from aiohttp import web

from bifrost_proxy.appkeys import RUNTIME
from bifrost_proxy.app import make_app
from bifrost_proxy.config import Config, ConfigError

log = logging.getLogger("bifrost_proxy.server")


async def serve(config: Config, host: str, port: int, reload_config: Callable[[], Config] | None = None) -> None:
    app = make_app(config)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                           shutdown_timeout=config.server.shutdown_grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    log.info("bifrost_proxy listening on %s:%s with providers: %s", host, port,
             ", ".join(config.providers) or "none")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if reload_config is not None:
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload(app, reload_config))
    try:
        await stop.wait()
        log.info("shutting down: waiting up to %.0f s for requests in flight",
                 config.server.shutdown_grace_seconds)
    finally:
        await runner.cleanup()


def _reload(app: web.Application, reload_config: Callable[[], Config]) -> None:
    try:
        config = reload_config()
    except ConfigError as exc:
        log.error("config reload failed, keeping the running config: %s", "; ".join(exc.lines()))
        return
    app[RUNTIME].swap(config)
    log.info("config reloaded from %s", config.source)


def run(config: Config, host: str, port: int, reload_config: Callable[[], Config] | None = None) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config, host, port, reload_config))
    else:
        uvloop.run(serve(config, host, port, reload_config))
