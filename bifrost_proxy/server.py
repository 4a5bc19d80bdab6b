"""Run the app in this process: one loop; signal handlers only set flags and one coroutine acts on them.

SIGTERM/SIGINT: stop accepting, tell systemd STOPPING=1, give requests in flight the config's
``server.shutdown_grace_seconds``, cut the rest (``lifecycle/shutdown.py``) and return. SIGHUP: RELOADING=1,
reload the config file (an invalid one keeps the running config and logs one line), READY=1.
READY=1 is sent once the socket listens; WATCHDOG=1 every half ``WATCHDOG_USEC`` while the loop runs.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Callable, Coroutine

from aiohttp import web
from aiohttp.log import server_logger

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import METRICS, RUNTIME
from bifrost_proxy.config import Config, ConfigError
from bifrost_proxy.appkeys import DRAIN
from bifrost_proxy.lifecycle.shutdown import CUT_TIMEOUT
from bifrost_proxy.lifecycle.systemd import Notifier, SystemdNotifier
from bifrost_proxy.observability.malformed_http import MalformedHTTPLog

log = logging.getLogger("bifrost_proxy.server")
CLOSE_TIMEOUT = 2.0  # after the drain, for aiohttp's own connection shutdown; nothing should be left
# idle keep-alive connections close after this (aiohttp's default is an hour); nginx's upstream keepalive_timeout
# (conf/nginx/bifrost.conf: 60 s) must stay below it
KEEPALIVE_TIMEOUT = 75.0
EXIT_CANNOT_LISTEN = 1


class Signals:
    """What the signal handlers ask for; ``wake`` tells the serving coroutine to look."""

    __slots__ = ("stop", "reload", "wake")

    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self.wake = asyncio.Event()

    def ask_stop(self) -> None:
        self.stop = True
        self.wake.set()

    def ask_reload(self) -> None:
        self.reload = True
        self.wake.set()


async def serve(config: Config, host: str, port: int, reload_config: Callable[[], Config] | None = None, *,
                notifier: Notifier | None = None, reuse_port: bool = False,
                on_config: Callable[[Config], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain. ``reuse_port`` lets ``--workers`` share the port."""
    notifier = notifier or SystemdNotifier()
    app = make_app(config)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=CLOSE_TIMEOUT,
                           keepalive_timeout=KEEPALIVE_TIMEOUT, logger=MalformedHTTPLog(server_logger))
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio rewords the error; the errno's own text is the clearest line
        log.error("cannot listen on %s:%s: %s", host, port, os.strerror(exc.errno) if exc.errno else exc)
        raise SystemExit(EXIT_CANNOT_LISTEN) from None
    listening = ", ".join(_address(a) for a in runner.addresses)
    log.info("bifrost_proxy listening on %s with providers: %s", listening, ", ".join(config.providers) or "none")
    signals = Signals()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, signals.ask_stop)
    loop.add_signal_handler(signal.SIGINT, signals.ask_stop)
    loop.add_signal_handler(signal.SIGHUP, signals.ask_reload)
    notifier.ready(f"listening on {listening}")
    watchdog = _start_watchdog(notifier)
    try:
        while not signals.stop:
            await signals.wake.wait()
            signals.wake.clear()
            if signals.reload and not signals.stop:
                signals.reload = False
                notifier.reloading()
                _reload(app, reload_config, on_config)
                notifier.ready("reloaded")
        notifier.stopping()
        await _drain(runner, app)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")


async def _drain(runner: web.AppRunner, app: web.Application) -> None:
    grace = app[RUNTIME].current.config.server.shutdown_grace_seconds  # a reload may have changed it
    for site in list(runner.sites):
        await site.stop()  # no new connections
    await asyncio.sleep(0)  # let connections accepted just now start their requests (as runner.cleanup does)
    drain = app[DRAIN]
    log.info("shutting down: %d request(s) in flight, %d streaming; waiting up to %g s",
             len(drain.tasks), len(drain.streams), grace)
    server = runner.server
    if server is None:
        return
    server.pre_shutdown()  # every connection closes after its request in flight, if any
    # aiohttp's shutdown closes idle keep-alive connections at once (a request sent on one now would never be
    # read) and waits for the busy ones, which the drain ends by the grace period at the latest
    cut, _ = await asyncio.gather(drain.wait(grace), server.shutdown(grace + CUT_TIMEOUT))
    if cut:
        log.warning("shutdown grace period (%g s) over: cut %d request(s) still in flight", grace, cut)


def _reload(app: web.Application, reload_config: Callable[[], Config] | None,
            on_config: Callable[[Config], None] | None) -> None:
    metrics = app.get(METRICS)
    if reload_config is None:
        log.warning("SIGHUP ignored: no config file to reload (started with built-in defaults)")
        return
    try:
        config = reload_config()
    except ConfigError as exc:
        log.error("config reload failed, keeping the running config: %s", "; ".join(exc.lines()))
        if metrics is not None:
            metrics.reloads.labels("error").inc()
        return
    app[RUNTIME].swap(config)
    if on_config is not None:
        on_config(config)
    if metrics is not None:
        metrics.reloads.labels("ok").inc()
    for warning in config.warnings:
        log.warning("%s: %s", config.source, warning)
    log.info("config reloaded from %s; providers: %s (listen address changes need a restart)", config.source,
             ", ".join(config.providers) or "none")


def _start_watchdog(notifier: Notifier) -> asyncio.Task | None:
    interval = notifier.watchdog_interval()
    if not interval:
        return None

    async def ping() -> None:
        # a loop that stops turning stops pinging: that is what the watchdog is for
        while True:
            notifier.watchdog()
            await asyncio.sleep(interval)

    return asyncio.get_running_loop().create_task(ping())


def _address(address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(config: Config, host: str, port: int, reload_config: Callable[[], Config] | None = None, **options) -> None:
    """``serve`` on a new event loop (uvloop when installed); ``options`` as for ``serve``."""
    # pick the runner first, then run it: a server run inside ``except ImportError`` would give every
    # exception it ever logs "No module named 'uvloop'" as its context
    loop_runner()(serve(config, host, port, reload_config, **options))


def loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """``uvloop.run`` when uvloop is installed, else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run
