"""Governance across processes, as deployed: gateways sharing one real redis-server (limits, budgets and
revocations are global; Redis going away fails closed and comes back), workers on Redis, and usage on
SQLite surviving a SIGTERM restart."""
from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from tests.conftest import TEST_SECRETS, openai_config
from tests.system.conftest import eventually

TEAM_A, TEAM_B, ADMIN = TEST_SECRETS[3], TEST_SECRETS[4], TEST_SECRETS[5]
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}
PRICE = {"openai/gpt-4o-mini": {"input": 1000.0, "output": 2000.0}}
CALL_COST = (12 * 1000.0 + 9 * 2000.0) / 1_000_000  # the recorded completion: 12 prompt + 9 completion tokens


def governed(base_url: str, store: str, **key: object) -> dict:
    config = openai_config(base_url)
    config["governance"] = {"enabled": True, "store": store, "admin_key": ADMIN,
                            "virtual_keys": [{"name": "team-a", "value": TEAM_A, **key}]}
    config["pricing"] = PRICE
    return config


async def chat(base: str, key: str = TEAM_A) -> int:
    """One request on a new connection (with --workers, the kernel picks a worker afresh)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.post(f"{base}/v1/chat/completions", json=CHAT,
                                headers={"Authorization": f"Bearer {key}"}) as resp:
            await resp.read()
            return resp.status


async def admin(http: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[int, dict]:
    async with http.request(method, url, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_two_gateways_on_one_redis_share_a_request_limit_exactly(launch, fake_openai, redis_server):
    config = governed(fake_openai.base_url, redis_server.url(), rate_limit={
        "request_max_limit": 7, "request_reset_duration": "1d"})
    first, second = await launch(config), await launch(config)
    statuses = await asyncio.gather(*(chat(gw.base) for gw in [first, second] * 8))  # 16 at once, 8 each
    assert sorted(statuses) == [200] * 7 + [429] * 9
    assert len(fake_openai.calls) == 7


async def test_two_gateways_share_a_budget_and_a_revocation(launch, fake_openai, redis_server, http):
    config = governed(fake_openai.base_url, redis_server.url(),
                      budget={"max_limit": 1.5 * CALL_COST, "reset_duration": "1M"})
    first, second = await launch(config), await launch(config)
    assert await chat(first.base) == 200  # spends 1x; instances batch their charges to Redis every 0.5 s
    await eventually(lambda: _spent(http, second.base, CALL_COST), timeout=3.0)  # seen by the other instance
    assert await chat(second.base) == 200  # 1x spent < 1.5x: admitted, now 2x
    await eventually(lambda: _spent(http, first.base, 2 * CALL_COST), timeout=3.0)
    assert [await chat(gw.base) for gw in (first, second)] == [402, 402]

    status, made = await admin(http, "POST", f"{first.base}/api/governance/virtual-keys", json={"name": "temp"})
    assert status == 201
    value = made["virtual_key"]["value"]
    assert await eventually(lambda: _status(second.base, value, 200), timeout=2.0)  # made on one, seen by the other
    status, _ = await admin(http, "DELETE", f"{first.base}/api/governance/virtual-keys/temp")
    assert status == 200
    assert await eventually(lambda: _status(second.base, value, 401), timeout=1.5)  # revoked everywhere in ~1 s


async def _spent(http: aiohttp.ClientSession, base: str, amount: float) -> bool:
    _, shown = await admin(http, "GET", f"{base}/api/governance/virtual-keys/team-a")
    return shown["virtual_key"]["budget"]["current_usage"] == pytest.approx(amount)


async def _status(base: str, key: str, expected: int) -> bool:
    return await chat(base, key) == expected


async def test_redis_killed_mid_run_fails_closed_then_recovers(launch, fake_openai, redis_server):
    config = governed(fake_openai.base_url, redis_server.url(), rate_limit={
        "request_max_limit": 100, "request_reset_duration": "1d"})
    gw = await launch(config)
    assert await chat(gw.base) == 200
    redis_server.kill()
    assert await chat(gw.base) == 503  # never served uncounted
    calls = len(fake_openai.calls)
    redis_server.start()  # empty again (no persistence): the gateway puts the config's keys back
    assert await eventually(lambda: _status(gw.base, TEAM_A, 200), timeout=5.0)
    assert len(fake_openai.calls) == calls + 1
    log = gw.log()
    assert "redis" in log.lower() and TEAM_A not in log and ADMIN not in log


async def test_workers_on_redis_keep_the_limit_global(launch, fake_openai, redis_server):
    config = governed(fake_openai.base_url, redis_server.url(), rate_limit={
        "request_max_limit": 5, "request_reset_duration": "1d"})
    gw = await launch(config, "--workers", "2")
    statuses = [await chat(gw.base) for _ in range(12)]
    assert statuses.count(200) == 5 and statuses.count(429) == 7  # not 5 per worker


async def test_usage_on_sqlite_survives_a_sigterm_restart(launch, fake_openai, http, tmp_path):
    store = f"sqlite://{tmp_path / 'state' / 'governance.db'}"
    config = governed(fake_openai.base_url, store, rate_limit={
        "request_max_limit": 3, "request_reset_duration": "1d", "token_max_limit": 1000,
        "token_reset_duration": "1d"}, budget={"max_limit": 10, "reset_duration": "1M"})
    gw = await launch(config)
    assert [await chat(gw.base) for _ in range(2)] == [200, 200]
    status, made = await admin(http, "POST", f"{gw.base}/api/governance/virtual-keys", json={"name": "made-here"})
    value = made["virtual_key"]["value"]
    gw.signal(signal.SIGTERM)
    assert await gw.exit_status() == 0

    again = await launch(config)
    status, shown = await admin(http, "GET", f"{again.base}/api/governance/virtual-keys/team-a")
    usage = shown["virtual_key"]
    assert usage["rate_limit"]["request_current_usage"] == 2 and usage["rate_limit"]["token_current_usage"] == 42
    assert usage["budget"]["current_usage"] == pytest.approx(2 * CALL_COST)
    assert [await chat(again.base) for _ in range(2)] == [200, 429]  # the third of three, then the limit
    assert await chat(again.base, value) == 200  # a key made with the admin API lives in the file too
