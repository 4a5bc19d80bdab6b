"""A governance store that can be told to fail the way a Redis store fails when Redis goes away.

``FlakyStore`` is the in-memory store with a switch: while ``down`` is set, every call that would reach
Redis (admit, keys_version, load_keys, usage, put/delete) raises ``StoreUnavailable``, as ``RedisStore``
does on a refused connection; clearing it is Redis coming back. It also counts admissions and records
charges, so tests can prove what was counted.
"""
from __future__ import annotations

from bifrost_proxy.governance.store.base import Admission, StoreUnavailable, VirtualKeyRecord, Window
from bifrost_proxy.governance.store.memory import MemoryStore


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.admits = 0
        self.charges: list[tuple[str, int, float]] = []
        self.closed = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused (fake store is down)")

    async def open(self) -> None:
        self._check()

    async def close(self) -> None:
        self.closed = True

    async def keys_version(self) -> int:
        self._check()
        return await super().keys_version()

    async def load_keys(self) -> list[VirtualKeyRecord]:
        self._check()
        return await super().load_keys()

    async def put_key(self, record: VirtualKeyRecord) -> None:
        self._check()
        await super().put_key(record)

    async def delete_key(self, name: str) -> bool:
        self._check()
        return await super().delete_key(name)

    async def admit(self, name: str, windows: list[Window]) -> Admission:
        self._check()
        self.admits += 1
        return await super().admit(name, windows)

    def charge(self, name: str, windows: list[Window], tokens: int, cost: float) -> None:
        self.charges.append((name, tokens, cost))
        super().charge(name, windows, tokens, cost)

    async def usage(self, name: str, windows: list[Window]) -> tuple[float, ...]:
        self._check()
        return await super().usage(name, windows)

    def counter(self, name: str, metric: str) -> float:
        """The sum of ``name``'s counters of ``metric`` (every period: tests run within one)."""
        return sum(used for (key, m, _), (used, _) in self.counters.items() if key == name and m == metric)
