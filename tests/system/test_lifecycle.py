"""Signals and the systemd notify protocol, on a real gateway process and a real datagram socket."""
from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import orjson
import pytest

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import STREAM, STREAM_WITHOUT_USAGE, Reply
from tests.system.conftest import eventually

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


def config(fake_url: str, **server) -> dict:
    conf = openai_config(fake_url)
    if server:
        conf["server"] = server
    return conf


def with_second_provider(conf: dict, fake_url: str) -> dict:
    conf = orjson.loads(orjson.dumps(conf))
    conf["providers"]["second"] = {"type": "openai", "keys": [{"name": "k2", "value": TEST_SECRETS[1]}],
                                   "network_config": {"base_url": fake_url}}
    return conf


async def refused(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/health") as resp:
            await resp.read()
    except aiohttp.ClientConnectionError:
        return True
    return False


async def status(http, base: str, model: str) -> int:
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": model}) as resp:
        await resp.read()
        return resp.status


async def test_sigterm_stops_accepting_and_lets_a_stream_in_flight_finish(launch, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    gw = await launch(config(fake_openai.base_url))
    async with http.post(f"{gw.base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 10)
        assert first == STREAM[0]
        gw.signal(signal.SIGTERM)
        await gw.notify.expect("STOPPING=1")
        await eventually(lambda: refused(gw.base))  # no new connections while it drains
        assert gw.process.returncode is None  # still serving the stream
        fake_openai.gate.set()
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first + rest == b"".join(STREAM_WITHOUT_USAGE)  # complete, [DONE] included
    assert await gw.exit_status() == 0
    assert "1 request(s) in flight, 1 streaming" in gw.log()


async def test_past_the_grace_period_a_stream_ends_with_one_error_event(launch, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))  # the gate never opens
    gw = await launch(config(fake_openai.base_url, shutdown_grace_seconds=0.3))
    async with http.post(f"{gw.base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 10)
        gw.signal(signal.SIGTERM)
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first == STREAM[0]
    assert rest.startswith(b"data: {") and rest.count(b"\n\n") == 1 and b"[DONE]" not in rest
    assert orjson.loads(rest[6:])["error"]["code"] == "server_shutting_down"
    assert await gw.exit_status() == 0
    assert "cut 1 request(s) still in flight" in gw.log()
    await eventually(lambda: fake_openai.client_gone.is_set())  # the upstream call was closed too


async def test_sigint_drains_and_exits_0_like_sigterm(launch, fake_openai):
    gw = await launch(config(fake_openai.base_url))
    gw.signal(signal.SIGINT)
    await gw.notify.expect("STOPPING=1")
    assert await gw.exit_status() == 0


async def test_sighup_applies_a_valid_config_to_new_requests_without_dropping_a_stream(launch, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    conf = config(fake_openai.base_url)
    gw = await launch(conf)
    assert await status(http, gw.base, "second/gpt-4o-mini") == 404
    async with http.post(f"{gw.base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 10)
        gw.write_config(with_second_provider(conf, fake_openai.base_url))
        gw.signal(signal.SIGHUP)
        reloading = await gw.notify.expect("RELOADING=1")
        await gw.notify.expect("READY=1")
        assert await status(http, gw.base, "second/gpt-4o-mini") == 200  # the new provider serves
        fake_openai.gate.set()
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first + rest == b"".join(STREAM_WITHOUT_USAGE)  # the stream begun before the reload completed
    usec = int(next(a for a in reloading.split("\n") if a.startswith("MONOTONIC_USEC="))[15:])
    assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 60_000_000  # systemd's clock
    assert "config reloaded from" in gw.log()


async def test_sighup_with_an_invalid_file_keeps_the_running_config_and_says_so_once(launch, fake_openai, http):
    conf = config(fake_openai.base_url)
    gw = await launch(conf)
    broken = orjson.loads(orjson.dumps(conf))
    broken["providers"]["openai"]["keys"][0]["weight"] = -1
    broken["providers"]["second"] = {"keys": [{"name": "k", "value": TEST_SECRETS[1]}]}  # no type
    gw.write_config(broken)
    gw.signal(signal.SIGHUP)
    await gw.notify.expect("RELOADING=1")
    await gw.notify.expect("READY=1")
    assert await status(http, gw.base, "openai/gpt-4o-mini") == 200
    assert await status(http, gw.base, "second/gpt-4o-mini") == 404
    lines = [line for line in gw.log().splitlines() if "reload" in line]
    assert len(lines) == 1, lines
    assert "config reload failed, keeping the running config" in lines[0]
    assert "providers.openai.keys[0].weight: must be a number > 0" in lines[0]
    assert "providers.second.type" in lines[0]
    assert "Traceback" not in gw.log() and not any(s in gw.log() for s in TEST_SECRETS)


async def test_notify_protocol_ready_when_listening_watchdog_and_stopping(launch, fake_openai, http, tmp_path):
    gw = await launch(config(fake_openai.base_url), env={"WATCHDOG_USEC": "200000"},
                      notify_address=str(tmp_path / "notify.sock"))  # a path socket; the others are abstract
    ready = next(m for m in gw.notify.messages if "READY=1" in m.split("\n"))
    assert f"STATUS=listening on 127.0.0.1:{gw.port}" in ready.split("\n")
    async with http.get(f"{gw.base}/health") as resp:  # READY=1 means it accepts, no retry needed
        assert resp.status == 200
    for _ in range(3):
        await gw.notify.expect("WATCHDOG=1", timeout=5)
    gw.signal(signal.SIGTERM)
    await gw.notify.expect("STOPPING=1")
    assert await gw.exit_status() == 0
    states = [m for m in gw.notify.drain() if m != "WATCHDOG=1"]
    assert [s.split("\n")[0] for s in states] == ["READY=1", "STOPPING=1"]


async def test_the_watchdog_is_not_pinged_for_another_process(launch, fake_openai):
    gw = await launch(config(fake_openai.base_url), env={"WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"})
    with pytest.raises(TimeoutError):
        await gw.notify.expect("WATCHDOG=1", timeout=0.5)
