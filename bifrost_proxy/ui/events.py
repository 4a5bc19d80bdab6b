"""``GET /ui/events``: the page's own server-sent events, and nothing at all while nobody watches.

A page gets one ``snapshot`` event (15 minutes of per-second figures, the providers, the virtual keys, the
recent requests), then a ``tick`` each second (the second just finished, and the state panels) and a
``request`` per finished request. The ticker task and the recorder listener exist only while at least one
page is connected.

A watcher that falls behind by more than ``MAX_PENDING`` events is disconnected rather than buffered
without end; the browser's EventSource reconnects and starts again from a fresh snapshot. When the
gateway drains for shutdown every watcher ends at once: a dashboard is not a request to wait for.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import DASHBOARD, DRAIN, GOVERNANCE, RECORDER, RUNTIME
from bifrost_proxy.ui.auth import admin_key
from bifrost_proxy.ui.state import providers_state, virtual_keys_state

if TYPE_CHECKING:
    from bifrost_proxy.ui.recorder import Row

log = logging.getLogger("bifrost_proxy.ui")

MAX_PENDING = 5000
TICK_OFFSET = 0.02  # wake just after the second turns, so the second just finished is complete
RECONNECT_MS = 2000
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Watcher:
    """One connected page: the events waiting to be written to it."""

    __slots__ = ("pending", "wake", "closed", "overflowed")

    def __init__(self) -> None:
        self.pending: list[bytes | Row] = []
        self.wake = asyncio.Event()
        self.closed = False
        self.overflowed = False

    def push(self, item: "bytes | Row") -> None:
        if self.closed:
            return
        if len(self.pending) >= MAX_PENDING:
            self.overflowed = True
            self.close()
            return
        self.pending.append(item)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    async def next(self) -> list["bytes | Row"] | None:
        """What to write next (rows and encoded ticks, in order), or None once closed."""
        while not self.pending and not self.closed:
            self.wake.clear()
            await self.wake.wait()
        if self.closed:
            return None
        items, self.pending = self.pending, []
        return items


class Hub:
    """The pages watching one app; while there is one, the recorder feeds it and a ticker runs."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.watchers: set[Watcher] = set()
        self.ticker: asyncio.Task | None = None
        self.closing = False
        self.tick_failed = False

    def join(self, watcher: Watcher) -> None:
        if self.closing:
            watcher.close()
            return
        if not self.watchers:
            self.app[RECORDER].listeners.append(self.on_row)
            self.ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        self.watchers.add(watcher)

    def leave(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        if not self.watchers:
            try:
                self.app[RECORDER].listeners.remove(self.on_row)
            except ValueError:
                pass
            if self.ticker is not None:
                self.ticker.cancel()
                self.ticker = None

    def on_row(self, row: "Row") -> None:
        for watcher in self.watchers:
            watcher.push(row)

    def close_all(self) -> None:
        """The gateway is going away: every page's stream ends now."""
        self.closing = True
        for watcher in list(self.watchers):
            watcher.close()

    async def _tick_forever(self) -> None:
        while True:
            now = time.time()
            await asyncio.sleep(1 - (now % 1) + TICK_OFFSET)
            try:
                data = await self.tick(int(time.time()) - 1)
            except Exception:  # a bug here must not take the page down with it: log once, try next second
                if not self.tick_failed:
                    self.tick_failed = True
                    log.exception("dashboard: cannot build the tick")
                continue
            frame = sse_event("tick", data)
            for watcher in self.watchers:
                watcher.push(frame)

    async def tick(self, second: int) -> dict[str, Any]:
        app = self.app
        data = app[RECORDER].series.summary(second)
        data["streams"] += len(app[DRAIN].streams)
        data["providers"] = providers_state(app[RUNTIME].current, app[RECORDER])
        data["virtual_keys"] = await virtual_keys_state(app)
        return data


async def snapshot(app: web.Application, watcher: Watcher | None = None) -> dict[str, Any]:
    """Everything a page starts from. With ``watcher``, it joins the hub in the same step as the ring is
    read, so every later row reaches it as an event and none is lost or shown twice."""
    recorder = app[RECORDER]
    now = int(time.time())
    series = recorder.series.window(now)
    if series["streams"]:
        series["streams"][-1] += len(app[DRAIN].streams)
    rows = recorder.recent()
    if watcher is not None:
        app[DASHBOARD].hub.join(watcher)
    data = {"now": now, "series": series, "providers": providers_state(app[RUNTIME].current, recorder),
            "virtual_keys": await virtual_keys_state(app), "capacity": recorder.capacity,
            "admin_key_set": admin_key(app) is not None}
    data["requests"] = await with_stored_rows(app, rows, recorder.capacity)
    return data


async def with_stored_rows(app: web.Application, rows: list["Row"], limit: int) -> list["Row"]:
    """With governance on, the store's recent rows (other instances', and from before a restart) too."""
    read = getattr(app.get(GOVERNANCE), "recent_requests", None)
    if read is None:
        return rows
    try:
        stored = await read(limit)
    except Exception as exc:
        log.warning("dashboard: cannot read recent requests from the store: %s", type(exc).__name__)
        return rows
    seen = {(r.get("request_id"), r.get("time")) for r in rows}
    merged = rows + [r for r in stored if (r.get("request_id"), r.get("time")) not in seen]
    merged.sort(key=lambda r: r.get("time") or 0, reverse=True)
    return merged[:limit]


async def events(request: web.Request) -> web.StreamResponse:
    """The stream itself; access was checked by the caller."""
    app = request.app
    # a page watching is not a request in flight: the drain does not wait for it, metrics do not count it
    app[DRAIN].done(asyncio.current_task())
    response = web.StreamResponse(headers=SSE_HEADERS)
    response.enable_chunked_encoding()
    await response.prepare(request)
    watcher = Watcher()
    hub = app[DASHBOARD].hub
    try:
        first = await snapshot(app, watcher)
        await response.write(f"retry: {RECONNECT_MS}\n\n".encode() + sse_event("snapshot", first))
        while (items := await watcher.next()) is not None:
            await response.write(b"".join(item if isinstance(item, bytes) else sse_event("request", item)
                                          for item in items))
        if watcher.overflowed:
            log.info("dashboard: a page fell %d events behind; it will reconnect", MAX_PENDING)
    finally:
        hub.leave(watcher)
    return response
