"""The dashboard through real sockets: the page and its files, the live event stream, what a row holds, the
state panels, and that nothing runs while nobody watches. Access rules are in test_dashboard_access.py,
the browser in test_dashboard_browser.py."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bifrost_proxy.appkeys import DASHBOARD, DRAIN, RECORDER
from tests.conftest import TEST_SECRETS
from tests.fakes.dashboard import (EventReader, FakeGovernance, VIRTUAL_KEY_VALUE, no_ui_secrets,  # noqa: F401
                                   start_gateway)
from tests.fakes.openai import Reply

PROMPT = "Tell me about the secret garden behind the wall"
ANSWER_TEXT = " upon"  # in the recorded completion and stream
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}

pytestmark = pytest.mark.usefixtures("no_ui_secrets")


def config(base_url: str) -> dict[str, Any]:
    return {"providers": {
        "openai": {"keys": [{"name": "primary", "value": TEST_SECRETS[0], "models": ["gpt-4o-mini", "gpt-4o"]},
                            {"name": "second", "value": TEST_SECRETS[1], "models": ["gpt-4o-limited"]}],
                   "network_config": {"base_url": base_url}},
        "backup": {"type": "openai", "keys": [{"name": "backup-key", "value": TEST_SECRETS[2]}],
                   "network_config": {"base_url": base_url}},
    }}


async def eventually(check, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.01)
    return result


async def test_the_page_and_its_files_come_from_the_package_under_a_strict_policy(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url))
    async with http.get(f"{base}/ui/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        policy = resp.headers["Content-Security-Policy"]
        assert resp.headers["Cache-Control"] == "no-store"
    assert "static/dashboard.js" in page and "static/vendor/uPlot.iife.min.js" in page
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "http://" not in page and "https://" not in page  # nothing from a CDN: it works offline
    async with http.get(f"{base}/ui/static/vendor/uPlot.iife.min.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
        library, etag = await resp.read(), resp.headers["ETag"]
    assert library.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    async with http.get(f"{base}/ui/static/vendor/uPlot.iife.min.js", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
    async with http.get(f"{base}/ui/static/vendor/uPlot.LICENSE") as resp:
        assert resp.status == 404  # shipped with the package, not served
    async with http.get(f"{base}/ui/static/../../app.py") as resp:
        assert resp.status == 404
    async with http.get(f"{base}/ui", allow_redirects=False) as resp:
        assert resp.status == 308 and resp.headers["Location"] == "/ui/"


async def test_a_finished_request_reaches_the_page_live_as_metadata_only(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url))
    async with http.get(f"{base}/ui/events") as events:
        assert events.status == 200 and events.headers["Content-Type"] == "text/event-stream"
        assert events.headers["X-Accel-Buffering"] == "no" and events.headers["Cache-Control"] == "no-cache"
        reader = EventReader(events)
        snapshot = await reader.until("snapshot")
        assert snapshot["requests"] == [] and snapshot["admin_key_set"] is False
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True},
                             headers={"X-Request-ID": "live-1"}) as resp:
            assert resp.status == 200
            assert ANSWER_TEXT.encode() in await resp.read()
        row = await reader.until("request")
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 200
        second = await reader.until("request")
    assert row["request_id"] == "live-1" and row["route"] == "/v1/chat/completions" and row["method"] == "POST"
    assert (row["status"], row["provider"], row["model"], row["key"]) == (200, "openai", "gpt-4o-mini", "primary")
    assert row["stream"] is True and row["attempts"] == 1 and row["fallbacks"] == 0 and row["errors"] == []
    assert row["tokens_in"] > 0 and row["tokens_out"] > 0  # usage is counted for every stream
    assert 0 <= row["ttfb_ms"] <= row["duration_ms"]
    assert second["stream"] is False and second["tokens_in"] > 0
    assert PROMPT.encode() not in reader.raw and ANSWER_TEXT.encode() not in reader.raw


async def test_a_page_opened_later_gets_the_history_and_then_a_tick_each_second(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url))
    for i in range(3):
        async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers={"X-Request-ID": f"old-{i}"}) as resp:
            assert resp.status == 200
    async with http.post(f"{base}/v1/nothing-here", json={}) as resp:
        assert resp.status == 404
    async with http.get(f"{base}/ui/events") as events:
        reader = EventReader(events)
        snapshot = await reader.until("snapshot")
        first = await reader.until("tick")
        second = await reader.until("tick")
    assert [r["request_id"] for r in snapshot["requests"][1:]] == ["old-2", "old-1", "old-0"]  # newest first
    assert snapshot["requests"][0]["route"] == "/v1/nothing-here" and snapshot["requests"][0]["status"] == 404
    assert snapshot["capacity"] >= 1000
    ticked = first["t"]
    assert second["t"] == ticked + 1  # one tick per second, each for the second just finished
    history = snapshot["series"]
    seen = sum(history["requests"]) + (first["requests"] if ticked >= snapshot["now"] else 0)
    assert seen == 4 and sum(history["client_errors"]) + first["client_errors"] >= 1
    assert {p["name"] for p in first["providers"]} == {"openai", "backup"}
    assert first["virtual_keys"] is None  # governance is off


async def test_the_snapshot_is_also_one_json_document_for_scripts(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "scripted"}) as resp:
        assert resp.status == 200
    async with http.get(f"{base}/ui/api/snapshot") as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        data = await resp.json()
    assert [r["request_id"] for r in data["requests"]] == ["scripted"]


async def test_retries_and_fallbacks_show_every_attempt(serve_app, fake_openai, http):
    base, app = await start_gateway(serve_app, config(fake_openai.base_url))
    fake_openai.queue("gpt-4o-mini", Reply(status=500, error_message="boom"))
    body = {**CHAT, "fallbacks": ["backup/gpt-4o"]}
    async with http.post(f"{base}/v1/chat/completions", json=body, headers={"X-Request-ID": "fell-back"}) as resp:
        assert resp.status == 200
    [row] = app[RECORDER].recent()
    assert (row["request_id"], row["provider"], row["key"]) == ("fell-back", "backup", "backup-key")
    assert row["attempts"] == 2 and row["fallbacks"] == 1
    [failed] = row["errors"]
    assert (failed["provider"], failed["key"], failed["status"]) == ("openai", "primary", 500)
    async with http.get(f"{base}/ui/api/snapshot") as resp:
        providers = {p["name"]: p for p in (await resp.json())["providers"]}
    # failed attempts by kind, counted for the provider that failed, not the one that answered
    assert providers["openai"]["errors"] == {failed["kind"]: 1} and providers["backup"]["errors"] == {}


async def test_a_rate_limited_key_shows_as_cooling_why_and_until_when(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url))
    fake_openai.queue("gpt-4o-limited", Reply(status=429, headers={"Retry-After": "120"}, error_type="rate_limit"))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "openai/gpt-4o-limited"}) as resp:
        assert resp.status == 429
    async with http.get(f"{base}/ui/events") as events:
        tick = await EventReader(events).until("tick")
    keys = {k["name"]: k for p in tick["providers"] if p["name"] == "openai" for k in p["keys"]}
    assert keys["primary"] == {"name": "primary", "state": "serving", "cooling": []}
    assert keys["second"]["state"] == "cooling"
    [cooling] = keys["second"]["cooling"]
    assert cooling["reason"] == "rate limited (429)" and cooling["status"] == 429 and cooling["model"] is None
    assert time.time() + 100 < cooling["until"] <= time.time() + 121


async def test_a_stream_in_flight_is_counted_while_it_runs_and_the_page_itself_is_not(serve_app, fake_openai, http):
    base, app = await start_gateway(serve_app, config(fake_openai.base_url))
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    async with http.get(f"{base}/ui/events") as events:
        reader = EventReader(events)
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
            assert resp.status == 200
            await resp.content.readany()  # the stream is open: its first event arrived
            during = await reader.until("tick")
            fake_openai.gate.set()
            await resp.read()
        row = await reader.until("request")
        after = await reader.until("tick", lambda t: t["t"] > int(row["time"]))
    assert during["streams"] == 1  # the open stream; the page's own event stream is not one
    assert after["streams"] == 0
    assert len(app[DRAIN].streams) == 0


async def test_nothing_runs_for_the_dashboard_while_nobody_watches(serve_app, fake_openai, http):
    base, app = await start_gateway(serve_app, config(fake_openai.base_url))
    hub, recorder = app[DASHBOARD].hub, app[RECORDER]
    assert hub.ticker is None and recorder.listeners == []
    async with http.get(f"{base}/ui/events") as events:
        await EventReader(events).until("snapshot")
        assert hub.ticker is not None and recorder.listeners == [hub.on_row]
    await eventually(lambda: hub.ticker is None and recorder.listeners == [] and not hub.watchers)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
    assert recorder.count == 1  # still recorded, for the next page that opens


async def test_an_open_dashboard_never_holds_up_a_shutdown(serve_app, fake_openai, http):
    base, app = await start_gateway(serve_app, config(fake_openai.base_url))
    async with http.get(f"{base}/ui/events") as events:
        reader = EventReader(events)
        await reader.until("snapshot")
        cut = await asyncio.wait_for(app[DRAIN].wait(30), 5)  # the grace period is not waited out
        assert cut == 0
        async with asyncio.timeout(5):  # ticks keep coming until the stream ends: it must end
            with pytest.raises(EOFError):
                while True:
                    await reader.next()
    async with http.get(f"{base}/ui/events") as events:  # a page connecting during the drain ends at once
        with pytest.raises(EOFError):
            await asyncio.wait_for(EventReader(events).until("tick"), 5)


async def test_virtual_keys_show_usage_and_spend_and_never_their_value(serve_app, fake_openai, http):
    governance = FakeGovernance()
    base, app = await start_gateway(serve_app, config(fake_openai.base_url), governance)
    assert app[RECORDER].governed  # seen at startup: rows will carry the virtual key and the cost
    async with http.get(f"{base}/ui/events") as events:
        reader = EventReader(events)
        snapshot = await reader.until("snapshot")
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 200
        row = await reader.until("request")
        tick = await reader.until("tick", lambda t: t["virtual_keys"][0]["requests"]["used"] == 1)
    before = {k["name"]: k for k in snapshot["virtual_keys"]}
    after = {k["name"]: k for k in tick["virtual_keys"]}
    assert before["team-a"]["budget"] == {"used": 0.0, "limit": 50, "reset": "1M"}
    assert before["team-a"]["requests"] == {"used": 0, "limit": 60, "reset": "1m"}
    assert before["team-b"] == {"name": "team-b", "is_active": False, "requests": None, "tokens": None,
                                "budget": None}
    tokens = row["tokens_in"] + row["tokens_out"]
    assert after["team-a"]["tokens"]["used"] == tokens
    assert after["team-a"]["budget"]["used"] > before["team-a"]["budget"]["used"]
    assert VIRTUAL_KEY_VALUE.encode() not in reader.raw


async def test_a_failing_store_shows_an_error_in_the_panel_and_the_page_goes_on(serve_app, fake_openai, http, caplog):
    governance = FakeGovernance()
    governance.fail = True
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url), governance)
    async with http.get(f"{base}/ui/events") as events:
        reader = EventReader(events)
        snapshot = await reader.until("snapshot")
        tick = await reader.until("tick")
    assert snapshot["virtual_keys"] == [{"name": None, "error": "cannot read the virtual keys (ConnectionError)"}]
    assert tick["virtual_keys"] == snapshot["virtual_keys"]
    assert "cannot read the virtual keys" in caplog.text and "Traceback" not in caplog.text


async def test_rows_from_the_store_join_the_recent_requests_without_doubles(serve_app, fake_openai, http):
    old = {"time": 1_700_000_000.0, "request_id": "before-restart", "route": "/v1/chat/completions", "status": 200}
    governance = FakeGovernance(stored=[old])
    base, app = await start_gateway(serve_app, config(fake_openai.base_url), governance)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers={"X-Request-ID": "now"}) as resp:
        assert resp.status == 200
    governance.stored.insert(0, app[RECORDER].recent()[0])  # the store also holds this instance's rows
    async with http.get(f"{base}/ui/api/snapshot") as resp:
        rows = (await resp.json())["requests"]
    assert [r["request_id"] for r in rows] == ["now", "before-restart"]
