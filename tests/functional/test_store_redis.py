"""The Redis store against a real redis-server: limits shared exactly by several instances, one round trip
per admission, and a Redis that hangs, dies and comes back."""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bifrost_proxy.governance.store.base import Budget, StoreUnavailable, VirtualKeyRecord, Window
from bifrost_proxy.governance.store.redis import EXPIRY_GRACE, RedisStore
from tests.fakes.redis_server import RedisServer
from tests.system.conftest import eventually, gateway_env

T0 = 1_750_000_000
FAR = 4_000_000_000
PASSWORD = "hunter2-redis-5ecret"


def key(name: str = "team-a", **fields) -> VirtualKeyRecord:
    return VirtualKeyRecord(name=name, value_hash="cd" * 32, **fields)


@pytest.fixture
async def stores(redis_server: RedisServer) -> AsyncIterator[Callable[..., RedisStore]]:
    """Opens RedisStore instances on the test's redis-server (each like a separate gateway instance)."""
    opened: list[RedisStore] = []

    async def open_store(url: str | None = None, **options) -> RedisStore:
        store = RedisStore(url or redis_server.url(), **options)
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url())
    yield client
    await client.aclose()


async def test_two_instances_share_a_request_limit_exactly(stores):
    a, b = await stores(), await stores()
    windows = [Window("requests", 13, T0, FAR)]
    answers = await asyncio.gather(*(store.admit("team-a", windows) for _ in range(20) for store in (a, b)))
    admitted = [answer for answer in answers if answer.refused is None]
    assert len(admitted) == 13
    assert sorted(answer.used[0] for answer in admitted) == [float(n) for n in range(1, 14)]
    assert await a.usage("team-a", windows) == await b.usage("team-a", windows) == (13.0,)


ADMIT_FROM_ANOTHER_PROCESS = """
import asyncio, sys
from bifrost_proxy.governance.store.base import Window
from bifrost_proxy.governance.store.redis import RedisStore

async def main():
    store = RedisStore(sys.argv[1])
    await store.open()
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # go: both processes admit at once
    windows = [Window("requests", 13, 1_750_000_000, 4_000_000_000)]
    answers = await asyncio.gather(*(store.admit("team-a", windows) for _ in range(20)))
    await store.close()
    print(sum(answer.refused is None for answer in answers))

asyncio.run(main())
"""


async def test_two_processes_share_a_request_limit_exactly(redis_server):
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", ADMIT_FROM_ANOTHER_PROCESS, redis_server.url(), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env=gateway_env(None)) for _ in range(2)]
    for process in processes:
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
    for process in processes:
        process.stdin.write(b"go\n")
    outputs = [await asyncio.wait_for(process.communicate(), 30) for process in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert sum(int(out) for out, _ in outputs) == 13


async def test_a_budget_spent_on_one_instance_stops_the_other(stores):
    a, b = await stores(), await stores()
    windows = [Window("requests", 1000, T0, FAR), Window("cost", 1.0, T0, FAR)]
    assert (await b.admit("team-a", windows)).refused is None
    a.charge("team-a", windows, tokens=0, cost=0.6)
    a.charge("team-a", windows, tokens=0, cost=0.4)
    assert (await a.admit("team-a", windows)).refused == 1  # its own unwritten charges count at once
    # the other instance sees them once the background flush has written them (every 0.5 s)
    async def written() -> bool:
        return (await b.usage("team-a", windows[1:]))[0] == pytest.approx(1.0)

    await eventually(written, timeout=10)
    refused = await b.admit("team-a", windows)
    assert refused.refused == 1 and refused.used == (1.0, pytest.approx(1.0))  # only b's first was counted


async def test_a_revocation_on_one_instance_is_seen_by_the_other_at_once(stores):
    a, b = await stores(), await stores()
    await a.put_key(key(budget=Budget(5, "1M")))
    before = await b.keys_version()
    assert [k.name for k in await b.load_keys()] == ["team-a"]
    windows = [Window("requests", 10, T0, FAR), Window("tokens", 100, T0, FAR)]
    await b.admit("team-a", windows)
    b.charge("team-a", windows, tokens=50, cost=0)
    await b.flush()
    assert await a.delete_key("team-a") is True
    assert await b.keys_version() != before  # the core polls this every 0.5 s
    assert await b.load_keys() == []
    assert await b.usage("team-a", windows) == (0.0, 0.0)


async def test_admission_is_one_round_trip(stores, raw):
    store = await stores()
    windows = [Window("requests", 100, T0, FAR), Window("tokens", 10**6, T0, FAR), Window("cost", 10, T0, FAR)]
    await store.admit("team-a", windows)  # the first one loads the script into Redis
    before = await command_calls(raw)
    for _ in range(10):
        await store.admit("team-a", windows)
    after = await command_calls(raw)
    sent = {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}
    # ten EVALSHA from the store; every other count is inside the script (one GET per window, one INCR and
    # one EXPIREAT for the requests window); "info" is the first of our own two INFO calls
    assert sent == {"evalsha": 10, "get": 30, "incr": 10, "expireat": 10, "info": 1}


async def command_calls(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): fields["calls"] for name, fields in stats.items()}


async def test_counters_expire_when_their_window_ends(stores, raw):
    store = await stores()
    end = int(time.time()) + 3600
    windows = [Window("requests", 5, T0, end), Window("tokens", 500, T0, end)]
    await store.admit("team-a", windows)
    store.charge("team-a", windows, tokens=7, cost=0)
    await store.flush()
    counters = sorted([k async for k in raw.scan_iter(match="bifrost:gov:c:*")])
    assert len(counters) == 2
    assert [await raw.expiretime(k) for k in counters] == [end + EXPIRY_GRACE] * 2


async def test_revoking_one_name_leaves_names_that_look_like_it(stores):
    store = await stores()
    windows = [Window("requests", 10, T0, FAR)]
    for name in ("a*", "a", "a:b", "ab", "a}x"):
        await store.put_key(key(name))
        await store.admit(name, windows)
    await store.delete_key("a*")
    await store.delete_key("a")
    assert [await store.usage(n, windows) for n in ("a*", "a", "a:b", "ab", "a}x")] == [
        (0.0,), (0.0,), (1.0,), (1.0,), (1.0,)]


async def test_a_killed_redis_fails_fast_then_recovers_by_itself(stores, redis_server, caplog):
    a, b = await stores(), await stores()
    windows = [Window("requests", 100, T0, FAR), Window("tokens", 1000, T0, FAR)]
    assert (await a.admit("team-a", windows)).used == (1.0, 0.0)
    redis_server.kill()
    with pytest.raises(StoreUnavailable, match=rf"127\.0\.0\.1:{redis_server.port}/0"):
        await a.admit("team-a", windows)
    with pytest.raises(StoreUnavailable):
        await b.keys_version()
    a.charge("team-a", windows, tokens=40, cost=0)  # accepted while Redis is down, kept until it is back
    with pytest.raises(StoreUnavailable):
        await a.flush()
    redis_server.start()  # empty (no persistence): counters start again, the script must be loaded again
    assert (await a.admit("team-a", windows)).used == (1.0, 40.0)
    await a.flush()
    assert await b.usage("team-a", windows) == (1.0, 40.0)
    assert await b.keys_version() == 0


async def test_a_redis_that_never_answers_is_unavailable_within_the_timeout(stores):
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        store = await stores(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        async with asyncio.timeout(5):  # a hang would fail here, not pass
            with pytest.raises(StoreUnavailable, match="no answer in time"):
                await store.admit("team-a", [Window("requests", 1, T0, FAR)])
            with pytest.raises(StoreUnavailable):
                await store.load_keys()
        assert accepted, "the store never reached the silent server"
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_password_in_the_url_is_never_shown(stores, redis_server, caplog):
    caplog.set_level(logging.DEBUG)
    store = await stores(f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0")
    redis_server.kill()
    with pytest.raises(StoreUnavailable) as refused:
        await store.admit("team-a", [Window("requests", 1, T0, FAR)])
    store.charge("team-a", [Window("tokens", 10, T0, FAR)], tokens=5, cost=0)
    await store.close()  # its final flush fails and says so in the log
    assert "127.0.0.1" in str(refused.value) and PASSWORD not in str(refused.value)
    assert "not saved" in caplog.text and PASSWORD not in caplog.text


async def test_opening_while_redis_is_down_fails_closed_until_it_is_up(stores, redis_server):
    redis_server.stop()
    store = await stores()
    with pytest.raises(StoreUnavailable):
        await store.admit("team-a", [Window("requests", 1, T0, FAR)])
    redis_server.start()
    assert (await store.admit("team-a", [Window("requests", 1, T0, FAR)])).refused is None


async def test_recent_requests_are_shared_and_capped(stores):
    a, b = await stores(max_recent=5), await stores(max_recent=5)
    a.record_requests([{"request_id": f"r{i}"} for i in range(4)])
    await a.flush()
    a.record_requests([{"request_id": f"r{i}"} for i in range(4, 8)])
    await a.flush()
    b.record_requests([{"request_id": "b-unwritten"}])
    assert [r["request_id"] for r in await b.recent_requests(10)] == ["b-unwritten", "r7", "r6", "r5", "r4", "r3"]
    assert [r["request_id"] for r in await a.recent_requests(2)] == ["r7", "r6"]


async def test_a_malformed_url_is_refused_without_echoing_it():
    store = RedisStore(f"redis://:{PASSWORD}@127.0.0.1:sixthousand/0")
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:\(bad port\)/0 is not a Redis URL") as refused:
        await store.open()
    assert PASSWORD not in str(refused.value)
    await store.close()  # nothing to close: harmless
