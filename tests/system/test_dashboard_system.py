"""The dashboard with real processes: through nginx (conf/nginx/bifrost.conf, ports changed) its event stream
arrives event by event and a forwarded remote client is refused; an open page never delays a SIGTERM."""
from __future__ import annotations

import asyncio
import signal

import pytest

from tests.conftest import openai_config
from tests.fakes.dashboard import EventReader
from tests.system.conftest import REPO
from tests.system.test_nginx import NGINX, behind_nginx  # noqa: F401  (fixture)

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (CI: apt-get install nginx-light)")


def test_the_nginx_config_passes_the_dashboard_to_this_host_only():
    text = (REPO / "conf" / "nginx" / "bifrost.conf").read_text()
    block = text[text.index("location /ui/ {"):]
    block = block[:block.index("}")]
    assert "allow 127.0.0.1;" in block and "allow ::1;" in block and "deny all;" in block
    assert "proxy_buffering off;" in block and "gzip off;" in block


@needs_nginx
async def test_the_event_stream_passes_nginx_as_it_comes(behind_nginx, fake_openai, http):  # noqa: F811
    gw, base = await behind_nginx(openai_config(fake_openai.base_url))
    async with http.get(f"{base}/ui/") as resp:
        assert resp.status == 200 and "static/dashboard.js" in await resp.text()
    async with http.get(f"{base}/ui/events") as events:
        assert events.status == 200 and "Content-Encoding" not in events.headers
        reader = EventReader(events)
        await asyncio.wait_for(reader.until("snapshot"), 10)
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True},
                             headers={"X-Request-ID": "through-nginx"}) as resp:
            assert resp.status == 200
            await resp.read()
        row = await asyncio.wait_for(reader.until("request"), 10)
        tick = await asyncio.wait_for(reader.until("tick"), 10)  # while the stream is still open
    assert row["request_id"] == "through-nginx" and row["stream"] is True
    assert {p["name"] for p in tick["providers"]} == {"openai"}


@needs_nginx
async def test_a_remote_client_forwarded_by_nginx_is_refused_by_the_gateway(behind_nginx, fake_openai, http):  # noqa: F811
    # even if the allow/deny lines were removed without setting an admin key
    gw, base = await behind_nginx(openai_config(fake_openai.base_url))
    async with http.get(f"{base}/ui/events", headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "dashboard_local_only"


async def test_an_open_dashboard_never_delays_a_shutdown(launch, fake_openai, http):
    config = {**openai_config(fake_openai.base_url), "server": {"shutdown_grace_seconds": 60}}
    gw = await launch(config)
    async with http.get(f"{gw.base}/ui/events") as events:
        reader = EventReader(events)
        await asyncio.wait_for(reader.until("snapshot"), 10)
        gw.signal(signal.SIGTERM)
        assert await gw.exit_status(timeout=15) == 0  # not the 60 s grace period: a page is not a request
        with pytest.raises(EOFError):
            await asyncio.wait_for(reader.until("never"), 5)
    assert "0 request(s) in flight, 0 streaming" in gw.log()
