"""The in-memory store: keys and counters in dicts, nothing persisted.

It is the whole store for tests and for a gateway that wants limits without state across restarts, and the
hot half of the SQLite store, which adds persistence around it (``sqlite.py``). Every method completes
without suspending, so ``admit`` costs a few dict lookups.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

from bifrost_proxy.governance.store.base import Admission, VirtualKeyRecord, Window

MAX_RECENT_ROWS = 10_000


class MemoryStore:
    def __init__(self, max_recent: int = MAX_RECENT_ROWS) -> None:
        self.keys: dict[str, VirtualKeyRecord] = {}
        # (key name, metric, window start) -> [used, window end]
        self.counters: dict[tuple[str, str, int], list[float]] = {}
        self.version = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=max_recent)
        self.dirty: set[tuple[str, str, int]] = set()  # counters changed since the last flush (SQLite)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def load_keys(self) -> list[VirtualKeyRecord]:
        return list(self.keys.values())

    async def keys_version(self) -> int:
        return self.version

    async def put_key(self, record: VirtualKeyRecord) -> None:
        self.keys[record.name] = record
        self.version += 1

    async def delete_key(self, name: str) -> bool:
        if self.keys.pop(name, None) is None:
            return False
        for counter in [c for c in self.counters if c[0] == name]:
            del self.counters[counter]
            self.dirty.discard(counter)
        self.version += 1
        return True

    async def admit(self, name: str, windows: list[Window]) -> Admission:
        return self.admit_now(name, windows)

    def admit_now(self, name: str, windows: list[Window]) -> Admission:
        counters = self.counters
        keys, entries, used = [], [], []  # each counter looked up once: this runs for every request
        refused = None
        for index, window in enumerate(windows):
            key = (name, window.metric, window.start)
            entry = counters.get(key)
            value = 0.0 if entry is None else entry[0]
            keys.append(key)
            entries.append(entry)
            used.append(value)
            if refused is None and (value + 1 > window.limit if window.metric == "requests" else value >= window.limit):
                refused = index
        if refused is not None:
            return Admission(tuple(used), refused)
        dirty = self.dirty
        for index, window in enumerate(windows):
            if window.metric == "requests":
                entry = entries[index]
                if entry is None:
                    counters[keys[index]] = [1.0, window.end]
                else:
                    entry[0] += 1.0
                dirty.add(keys[index])
                used[index] += 1.0
        if len(counters) >= 4 * (len(self.keys) + 1) * 3:
            self._forget_ended()
        return Admission(tuple(used))

    def charge(self, name: str, windows: list[Window], tokens: int, cost: float) -> None:
        for window in windows:
            amount = tokens if window.metric == "tokens" else cost if window.metric == "cost" else 0
            if not amount:
                continue
            counter = (name, window.metric, window.start)
            entry = self.counters.get(counter)
            if entry is None:
                self.counters[counter] = [float(amount), window.end]
            else:
                entry[0] += amount
            self.dirty.add(counter)

    async def usage(self, name: str, windows: list[Window]) -> tuple[float, ...]:
        return tuple(self._value(name, w) for w in windows)

    def record_requests(self, rows: list[dict[str, Any]]) -> None:
        self.recent.extend(rows)

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        newest = list(self.recent)[-limit:] if limit > 0 else []
        newest.reverse()
        return newest

    def _value(self, name: str, window: Window) -> float:
        entry = self.counters.get((name, window.metric, window.start))
        return entry[0] if entry is not None else 0.0

    def _forget_ended(self) -> None:
        # cheap enough per admit only because it runs when the table has grown past its live size
        if len(self.counters) < 4 * (len(self.keys) + 1) * 3:
            return
        now = time.time()
        for counter in [c for c, (_, end) in self.counters.items() if end <= now]:
            del self.counters[counter]
            self.dirty.discard(counter)
