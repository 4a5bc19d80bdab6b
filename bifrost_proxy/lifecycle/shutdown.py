"""Graceful drain: requests in flight finish within the grace period; the rest are cut, each with a last word.

``server.py`` stops accepting, then calls ``Drain.wait(grace)``. Requests still running when the grace
period ends are cancelled by us; the middleware tells that cancellation apart from a client that left
(``Drain.cut``) and answers it: a stream gets one error event and its end (no ``[DONE]``: the contract's
"incomplete" signal), a request that has not answered yet gets a 503.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web

from bifrost_proxy.appkeys import DIALECT, DRAIN, STREAM_DECODER
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.middlewares.errors import error_response
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE
from bifrost_proxy.sse.encode import data_frame

CUT_TIMEOUT = 5.0  # after the grace period: how long cut requests get to write their last words


def shutting_down_error() -> GatewayError:
    return GatewayError("the gateway is shutting down and this request outlived its grace period; retry it",
                        status=503, code="server_shutting_down")


class Drain:
    """The requests in flight of one app (their handler tasks), and which of them are streaming."""

    __slots__ = ("tasks", "streams", "cut", "on_drain", "_idle")

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()
        self.streams: dict[asyncio.Task, web.StreamResponse] = {}  # prepared inside a handler, not ended
        self.cut: set[asyncio.Task] = set()  # cancelled by wait(), not by a client leaving
        # called as the drain begins: long-lived streams that are not requests (the dashboard's) end at once
        self.on_drain: list[Callable[[], None]] = []
        self._idle: asyncio.Event | None = None

    def done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.streams.pop(task, None)
        self.cut.discard(task)
        if not self.tasks and self._idle is not None:
            self._idle.set()

    async def wait(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for requests in flight, then cut the rest; returns how many were cut."""
        for callback in self.on_drain:
            callback()
        if self.tasks:
            self._idle = asyncio.Event()
            try:
                async with asyncio.timeout(grace):
                    await self._idle.wait()
            except TimeoutError:
                pass
        remaining = [task for task in self.tasks if not task.done()]
        if not remaining:
            return 0
        self.cut.update(remaining)
        for task in remaining:
            task.cancel()
        await asyncio.wait(remaining, timeout=CUT_TIMEOUT)
        return len(remaining)


def track_stream(request: web.Request, response: web.StreamResponse) -> None:
    """Called as a response is prepared: remember responses a handler streams itself (``web.Response`` are
    whole), so a cut after the grace period can end them with an error event."""
    if isinstance(response, web.Response):
        return
    drain = request.app[DRAIN]
    task = asyncio.current_task()
    if task in drain.tasks:
        drain.streams[task] = response


async def cut_off(request: web.Request, response: web.StreamResponse | None) -> web.StreamResponse:
    """The last word of a request the drain cut: a 503, or one error event at the end of its stream."""
    error = shutting_down_error()
    if response is None:
        return error_response(error, dialect=request.get(DIALECT))
    if response.content_type == SSE_MEDIA_TYPE:
        decoder = request.get(STREAM_DECODER)  # a client dialect's stream ends with its own error event
        try:
            await response.write(decoder.error_frame(error) if decoder is not None else data_frame(error.to_dict()))
            await response.write_eof()
        except (RuntimeError, ConnectionError):
            pass  # RuntimeError: the stream had already ended (write after write_eof); or the client left
    elif request.transport is not None:
        request.transport.abort()  # raw bytes cannot say "incomplete" in-band: end without the last chunk
    return response
