"""--workers N: worker processes sharing one port, supervised: signals forwarded, deaths repaired."""
from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import STREAM, STREAM_WITHOUT_USAGE, Reply
from tests.system.conftest import Gateway, child_pids, eventually

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


async def get_fresh(gw: Gateway, path: str = "/health") -> tuple[int, str]:
    """One request on a new connection, so that the kernel picks a worker afresh (SO_REUSEPORT)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.get(f"{gw.base}{path}") as resp:
            return resp.status, await resp.text()


def serving_pids(gw: Gateway) -> set[int]:
    return {line["pid"] for line in gw.json_log() if line.get("logger") == "bifrost_proxy.access"}


async def until_served_by(gw: Gateway, pids: set[int]) -> int:
    """Send requests until each of ``pids`` has answered one (in the access log); returns how many were sent."""
    sent = 0
    while not pids <= serving_pids(gw):
        assert sent < 400, f"workers {pids - serving_pids(gw)} never answered"
        status, _ = await get_fresh(gw)
        assert status == 200
        sent += 1
        await asyncio.sleep(0.005)  # the access line follows the answer
    return sent


async def counted_health_requests(gw: Gateway) -> float:
    _, text = await get_fresh(gw, "/metrics")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bifrost_requests_total" and sample.labels.get("route") == "/health":
                return sample.value
    return 0.0


async def test_workers_share_the_port_and_a_dead_worker_is_replaced(launch, fake_openai, http):
    gw = await launch(openai_config(fake_openai.base_url), "--workers", "2", "--log-format", "json")
    assert "STATUS=2 workers ready" in gw.notify.messages[-1].split("\n")
    workers = child_pids(gw.pid)
    assert len(workers) == 2
    sent = await until_served_by(gw, workers)  # both serve

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = await eventually(lambda: len(child_pids(gw.pid) - workers) == 1 and child_pids(gw.pid))
    assert victim not in replaced and len(replaced) == 2
    assert f"worker {victim} exited unexpectedly (killed by SIGKILL); starting another" in gw.log()
    sent += await until_served_by(gw, replaced - workers)  # the newcomer serves too

    # counters from every worker, the dead one included, add up in any worker's /metrics
    await eventually(lambda: len(serving_pids(gw)) >= 3 and sum(
        1 for line in gw.json_log() if line.get("route") == "/health") == sent)
    assert await counted_health_requests(gw) == sent

    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    async with http.post(f"{gw.base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 10)
        gw.signal(signal.SIGTERM)  # the supervisor forwards it: the workers drain
        await gw.notify.expect("STOPPING=1")
        fake_openai.gate.set()
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first == STREAM[0] and first + rest == b"".join(STREAM_WITHOUT_USAGE)
    assert await gw.exit_status() == 0
    assert not child_pids(gw.pid)
    readies = [m for m in gw.notify.drain() if "READY=1" in m.split("\n")]
    assert len(readies) == 1  # a replaced worker is not a new start


async def test_sighup_reaches_every_worker_and_a_bad_file_goes_no_further(launch, fake_openai):
    conf = openai_config(fake_openai.base_url)
    gw = await launch(conf, "--workers", "2", "--log-format", "json")
    workers = child_pids(gw.pid)
    broken = {"providers": {"openai": {"keys": [{"name": "p", "value": TEST_SECRETS[0], "weight": 0}]}}}
    gw.write_config(broken)
    gw.signal(signal.SIGHUP)
    await gw.notify.expect("RELOADING=1")
    await gw.notify.expect("READY=1")
    failures = [line for line in gw.json_log() if "reload" in line.get("message", "")]
    assert len(failures) == 1 and failures[0]["pid"] == gw.pid  # said once, by the supervisor
    assert "providers.openai.keys[0].weight: must be a number > 0" in failures[0]["message"]

    conf["providers"]["second"] = {"type": "openai", "keys": [{"name": "k2", "value": TEST_SECRETS[1]}],
                                   "network_config": {"base_url": fake_openai.base_url}}
    gw.write_config(conf)
    gw.signal(signal.SIGHUP)
    await gw.notify.expect("RELOADING=1")
    await gw.notify.expect("READY=1")  # after both workers confirmed
    reloaded = {line["pid"] for line in gw.json_log() if line.get("message", "").startswith("config reloaded")}
    assert reloaded == workers
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(20):  # whichever worker answers knows the new provider
            async with session.post(f"{gw.base}/v1/chat/completions",
                                    json={**CHAT, "model": "second/gpt-4o-mini"}) as resp:
                assert resp.status == 200


async def test_a_hung_worker_is_killed_by_the_supervisors_watchdog(launch, fake_openai):
    gw = await launch(openai_config(fake_openai.base_url), "--workers", "2", env={"WATCHDOG_USEC": "1000000"})
    workers = child_pids(gw.pid)
    hung = min(workers)
    os.kill(hung, signal.SIGSTOP)  # alive, but its loop no longer turns: no heartbeat
    try:
        replaced = await eventually(lambda: hung not in child_pids(gw.pid) and len(child_pids(gw.pid)) == 2 and
                                    child_pids(gw.pid))
    finally:
        try:
            os.kill(hung, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert len(replaced - workers) == 1
    assert f"worker {hung} sent no heartbeat" in gw.log()
    await gw.notify.expect("WATCHDOG=1", timeout=5)  # the supervisor itself keeps systemd's watchdog fed
    status, _ = await get_fresh(gw)
    assert status == 200
