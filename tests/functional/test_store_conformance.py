"""One behaviour, three stores: the same test bodies run against MemoryStore, SqliteStore (a real file) and
RedisStore (a real redis-server), so the core can swap them without noticing."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from bifrost_proxy.governance.store.base import (Budget, GovernanceStore, ProviderAccess, RateLimit,
                                                 VirtualKeyRecord, Window)
from bifrost_proxy.governance.store.memory import MemoryStore
from bifrost_proxy.governance.store.redis import RedisStore
from bifrost_proxy.governance.store.sqlite import SqliteStore

T0 = 1_750_000_000  # a window start; the counters are addressed by it, the clock does not matter
FAR = 4_000_000_000  # an end far in the future, so nothing expires mid-test

Opener = Callable[[], Awaitable[GovernanceStore]]


def key(name: str = "team-a", **fields: Any) -> VirtualKeyRecord:
    return VirtualKeyRecord(name=name, value_hash="ab" * 32, **fields)


def requests(limit: float, start: int = T0) -> Window:
    return Window("requests", limit, start, FAR)


async def openers(kind: str, request, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens a store on the same backing data each time it is called (for memory: the same object)."""
    opened: list[GovernanceStore] = []
    memory = MemoryStore()

    async def open_store() -> GovernanceStore:
        if kind == "memory":
            store: GovernanceStore = memory
        elif kind == "sqlite":
            store = SqliteStore(str(tmp_path / "state" / "governance.db"))
        else:
            store = RedisStore(request.getfixturevalue("redis_server").url())
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request, tmp_path: Path) -> AsyncIterator[GovernanceStore]:
    async for open_store in openers(request.param, request, tmp_path):
        yield await open_store()


@pytest.fixture(params=["sqlite", "redis"])  # the memory store keeps nothing across a restart, by design
async def persistent(request, tmp_path: Path) -> AsyncIterator[Opener]:
    async for open_store in openers(request.param, request, tmp_path):
        yield open_store


async def test_a_key_comes_back_with_every_field(store):
    record = key(id="vk-1", is_active=False, source="config", created_at=1.5, updated_at=2.5,
                 provider_configs=(ProviderAccess("openai", ("gpt-4o*", "o3")), ProviderAccess("anthropic")),
                 rate_limit=RateLimit(60, "1m", 200_000, "1h"), budget=Budget(12.5, "1M"))
    await store.put_key(record)
    await store.put_key(key("bare"))
    assert sorted(await store.load_keys(), key=lambda k: k.name) == [key("bare"), record]


async def test_every_change_to_a_key_changes_the_version(store):
    seen = [await store.keys_version()]
    await store.put_key(key())
    seen.append(await store.keys_version())
    await store.put_key(key(is_active=False))  # replaced
    seen.append(await store.keys_version())
    assert await store.delete_key("team-a") is True
    seen.append(await store.keys_version())
    assert len(set(seen)) == 4
    assert await store.delete_key("team-a") is False
    assert await store.load_keys() == []


async def test_requests_are_admitted_up_to_the_limit_and_no_further(store):
    windows = [requests(3)]
    answers = [await store.admit("team-a", windows) for _ in range(5)]
    assert [a.refused for a in answers] == [None, None, None, 0, 0]
    assert [a.used for a in answers] == [(1.0,), (2.0,), (3.0,), (3.0,), (3.0,)]
    assert await store.usage("team-a", windows) == (3.0,)


async def test_a_full_window_counts_nothing_in_the_others(store):
    windows = [requests(10), Window("tokens", 100, T0, FAR), requests(10, start=T0 + 60)]
    assert (await store.admit("team-a", windows)).used == (1.0, 0.0, 1.0)
    store.charge("team-a", windows, tokens=100, cost=0.0)
    refused = await store.admit("team-a", windows)
    assert refused.refused == 1 and refused.used == (1.0, 100.0, 1.0)
    assert await store.usage("team-a", windows) == (1.0, 100.0, 1.0)


async def test_charges_fill_tokens_and_budget_windows(store):
    windows = [requests(100), Window("tokens", 1000, T0, FAR), Window("cost", 0.01, T0, FAR)]
    await store.admit("team-a", windows)
    store.charge("team-a", windows, tokens=400, cost=0.004)
    store.charge("team-a", windows, tokens=350, cost=0.0035)
    used = await store.usage("team-a", windows)
    assert used[:2] == (1.0, 750.0) and used[2] == pytest.approx(0.0075)
    assert (await store.admit("team-a", windows)).refused is None
    store.charge("team-a", windows, tokens=10, cost=0.003)  # 0.0105 USD: the budget is spent
    answer = await store.admit("team-a", windows)
    assert answer.refused == 2 and answer.used[2] == pytest.approx(0.0105)


async def test_each_period_and_each_key_has_its_own_counter(store):
    await store.admit("team-a", [requests(1)])
    assert (await store.admit("team-a", [requests(1)])).refused == 0
    assert (await store.admit("team-a", [requests(1, start=T0 + 60)])).refused is None  # the next period
    assert (await store.admit("team-b", [requests(1)])).refused is None
    assert await store.usage("nobody", [requests(1), Window("cost", 1, T0, FAR)]) == (0.0, 0.0)


async def test_concurrent_admits_never_pass_the_limit(store):
    answers = await asyncio.gather(*(store.admit("team-a", [requests(7)]) for _ in range(25)))
    assert sum(a.refused is None for a in answers) == 7
    assert sorted(a.used[0] for a in answers if a.refused is None) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


async def test_revoking_a_key_forgets_its_usage(store):
    windows = [requests(5), Window("tokens", 1000, T0, FAR)]
    await store.put_key(key())
    await store.admit("team-a", windows)
    store.charge("team-a", windows, tokens=10, cost=0.0)
    await store.delete_key("team-a")
    await store.put_key(key())  # made again under the same name: a fresh start
    assert await store.usage("team-a", windows) == (0.0, 0.0)


async def test_recent_requests_come_newest_first(store):
    store.record_requests([{"request_id": f"r{i}", "status": 200} for i in range(3)])
    store.record_requests([{"request_id": "r3", "status": 429}])
    assert [r["request_id"] for r in await store.recent_requests(3)] == ["r3", "r2", "r1"]
    assert await store.recent_requests(0) == []


async def test_keys_usage_and_requests_survive_close_and_reopen(persistent):
    first = await persistent()
    windows = [requests(10), Window("tokens", 1000, T0, FAR), Window("cost", 5, T0, FAR)]
    await first.put_key(key(budget=Budget(5, "1M")))
    await first.admit("team-a", windows)
    await first.admit("team-a", windows)
    first.charge("team-a", windows, tokens=120, cost=0.25)
    first.record_requests([{"request_id": "before-restart"}])
    await first.close()  # the final flush
    second = await persistent()
    assert await second.load_keys() == [key(budget=Budget(5, "1M"))]
    assert await second.usage("team-a", windows) == (2.0, 120.0, 0.25)
    assert (await second.admit("team-a", windows)).used == (3.0, 120.0, 0.25)
    assert [r["request_id"] for r in await second.recent_requests(5)] == ["before-restart"]
