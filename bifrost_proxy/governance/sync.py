"""Keeping ``Governance`` current while the app runs: open the store, seed the config's keys, then every
0.5 s look at the store's ``keys_version`` (a key made, changed or revoked by the admin API, the CLI or
another instance is honoured here within that time) and at the running config (SIGHUP reloads); close
the store at shutdown, which writes what is still buffered.

A store that cannot answer (Redis down) is retried every tick: requests meanwhile get 503 from
``enforce.py``, and the first tick that works again logs it and carries on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, AsyncIterator

from aiohttp import web

from bifrost_proxy.appkeys import GOVERNANCE, RECORDER, RUNTIME
from bifrost_proxy.config.schema import Config
from bifrost_proxy.governance.enforce import Governance
from bifrost_proxy.governance.pricing import PriceTable
from bifrost_proxy.governance.store import describe_store
from bifrost_proxy.governance.store.base import GovernanceStore, StoreUnavailable, VirtualKeyRecord
from bifrost_proxy.routing.runtime import RuntimeHolder

if TYPE_CHECKING:
    from bifrost_proxy.ui.recorder import Recorder

log = logging.getLogger("bifrost_proxy.governance")
REFRESH_SECONDS = 0.5
ROWS_SECONDS = 0.2  # request rows into the store, from the recorder's ring
ROWS_PER_TICK = 50
USAGE_EVERY = 10  # ticks between two reads of every key's usage for the dashboard (5 s)
MAX_POLLED_KEYS = 1000
EXIT_STORE = 1


class KeySync:
    __slots__ = ("governance", "holder", "opened", "down", "ticks")

    def __init__(self, governance: Governance, holder: RuntimeHolder) -> None:
        self.governance = governance
        self.holder = holder
        self.opened = False
        self.down = False
        self.ticks = 0

    async def start(self) -> None:
        spec = self.governance.config.governance.store
        try:
            await self._open()
            await self.governance.reload_keys()
        except StoreUnavailable as exc:
            self.down = True
            log.warning("governance store %s is unavailable at start (%s): requests get 503 until it answers",
                        describe_store(spec), exc)
        except Exception as exc:  # a file that cannot be created, a URL that cannot work: say so in one line
            log.error("cannot open the governance store %s: %s", describe_store(spec), exc)
            raise SystemExit(EXIT_STORE) from None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.tick()
            except StoreUnavailable as exc:
                if not self.down:
                    log.warning("governance store unavailable: %s; requests get 503 until it answers", exc)
                self.down = True
                continue
            except Exception as exc:  # never let one bad tick stop the refreshes
                log.error("refreshing virtual keys failed: %s: %s", type(exc).__name__, exc)
                continue
            if self.down:
                log.info("governance store answers again")
                self.down = False

    async def tick(self) -> None:
        governance = self.governance
        if not self.opened:
            await self._open()
        config = self.holder.current.config
        if config is not governance.config:
            await self.apply(config)
        if await governance.store.keys_version() != governance.table.version or not governance.loaded:
            await governance.reload_keys()
            if any(r.name not in governance.table.by_name for r in config.governance.virtual_keys):
                # the store lost keys the config declares (a Redis restarted without persistence): put them back
                await self.seed(governance.config)
                await governance.reload_keys()
        self.ticks += 1
        if self.ticks % USAGE_EVERY == 0:
            await self.poll_usage()

    async def _open(self) -> None:
        await self.governance.store.open()
        self.opened = True
        await self.seed(self.governance.config)

    async def apply(self, config: Config) -> None:
        """A reloaded config: enforcement, the admin key, prices and the declared keys change now; the store
        itself needs a restart."""
        governance = self.governance
        old = governance.config.governance
        new = config.governance
        governance.enforcing = new.enabled
        governance.admin_key = new.admin_key
        governance.prices = PriceTable(config.pricing)
        if new.store != old.store:
            log.warning("governance.store changed to %s: the gateway keeps %s until it restarts",
                        describe_store(new.store), describe_store(old.store))
        if new.virtual_keys != old.virtual_keys:
            await self.seed(config)
        governance.config = config

    async def seed(self, config: Config) -> None:
        """Make the store hold exactly the config's keys among those marked ``source: config``."""
        store = self.governance.store
        declared = {r.name: r for r in config.governance.virtual_keys}
        stored = {r.name: r for r in await store.load_keys()}
        now = time.time()
        for name, record in declared.items():
            old = stored.get(name)
            if old is not None and _same(old, record):
                continue
            if old is not None and old.source != "config":
                log.warning("virtual key %r of the config replaces the one of that name made with the admin API "
                            "or the CLI", name)
            await store.put_key(replace(record, created_at=old.created_at if old else now, updated_at=now))
        for name, old in stored.items():
            if old.source == "config" and name not in declared:
                await store.delete_key(name)
                log.info("virtual key %r is no longer in the config: revoked", name)

    async def poll_usage(self) -> None:
        governance = self.governance
        now = time.time()
        for entry in list(governance.table.by_name.values())[:MAX_POLLED_KEYS]:
            if entry.limits:
                windows = entry.windows(governance.clock, now)
                governance.remember(entry.name, windows, await governance.store.usage(entry.name, windows))


def _same(a: VirtualKeyRecord, b: VirtualKeyRecord) -> bool:
    return replace(a, created_at=0.0, updated_at=0.0) == replace(b, created_at=0.0, updated_at=0.0)


class RowForwarder:
    """The dashboard's request rows into the store (its table after a restart, and across instances on
    Redis), taken from the recorder's ring every ``ROWS_SECONDS``: nothing is added to the request path.

    At most ``ROWS_PER_TICK`` rows a tick, the newest: 250 a second per instance. The dashboard's table
    shows the last 2,000 rows of its own process from memory; the store is its history, and storing every
    row of a busy gateway (thousands a second) would cost more CPU than the rest of governance together
    and fill the disk within the retention period."""

    __slots__ = ("recorder", "store", "seen")

    def __init__(self, recorder: "Recorder", store: GovernanceStore) -> None:
        self.recorder, self.store = recorder, store
        self.seen = recorder.count

    def forward(self) -> None:
        from bifrost_proxy.ui.recorder import as_row

        recorder = self.recorder
        count, capacity = recorder.count, recorder.capacity
        if count == self.seen:
            return
        first = max(self.seen, count - capacity, count - ROWS_PER_TICK)
        rows = [recorder.rows[i % capacity] for i in range(first, count)]
        self.seen = count
        self.store.record_requests([as_row(raw) for raw in rows if raw is not None])

    async def run(self) -> None:
        while True:
            await asyncio.sleep(ROWS_SECONDS)
            try:
                self.forward()
            except Exception as exc:  # a bug here must not stop the forwarding, nor flood the log
                log.error("storing request rows failed: %s: %s", type(exc).__name__, exc)


async def governance_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the store is open while the app serves, and closed (flushed) after its last request."""
    governance = app[GOVERNANCE]
    sync = KeySync(governance, app[RUNTIME])
    await sync.start()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(sync.run())]
    recorder = app.get(RECORDER)
    rows = RowForwarder(recorder, governance.store) if recorder is not None else None
    if rows is not None:
        tasks.append(loop.create_task(rows.run()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if rows is not None:
                rows.forward()  # the last requests' rows go into the store's final flush
            await governance.store.close()
        except Exception as exc:  # the store's last flush failed: say what may be lost, then go on stopping
            log.error("closing the governance store failed, the last second of usage may be lost: %s", exc)
