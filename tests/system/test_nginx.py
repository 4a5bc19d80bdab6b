"""Debian's nginx in front of the gateway with conf/nginx/bifrost.conf (only its ports changed).

Proves what the config is for: a stream's first event reaches the client through nginx while the upstream
has not finished (no proxy buffering), an upload of the allowed size passes whole, and the client address
the gateway logs is the one nginx forwarded. CI installs nginx (.ci/run); without it these tests skip.
"""
from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import wave
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import orjson
import pytest

from tests.conftest import openai_config
from tests.fakes.audio import MP3, AudioReply, audio_config, fake_audio  # noqa: F401  (fixture)
from tests.fakes.openai import STREAM, STREAM_WITHOUT_USAGE, Reply
from tests.system.conftest import REPO, eventually, free_port

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (CI: apt-get install nginx-light)")
SITE = REPO / "conf" / "nginx" / "bifrost.conf"
MIB = 1024 * 1024


def site_config(gateway_port: int, nginx_port: int) -> str:
    """conf/nginx/bifrost.conf with the test's ports: nothing else changes."""
    text = SITE.read_text()
    text, upstreams = re.subn(r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{gateway_port};", text)
    text, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{nginx_port};", text)
    assert upstreams == 1 and listens == 1, "conf/nginx/bifrost.conf changed shape: update this test"
    return text


def main_config(tmp: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf provides around conf.d/*.conf, with every path inside the test's directory."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # its workers must reach the test's private directory
    return f"""{user}daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    # as Debian's /etc/nginx/nginx.conf, with compression turned up: the site must opt its streams out
    sendfile on;
    tcp_nopush on;
    gzip on;
    gzip_proxied any;
    gzip_types *;
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    include {site};
}}
"""


async def start_nginx(tmp: Path, gateway_port: int) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    site = tmp / "bifrost.conf"
    site.write_text(site_config(gateway_port, port))
    conf = tmp / "nginx.conf"
    conf.write_text(main_config(tmp, site))
    check = subprocess.run([NGINX, "-t", "-e", str(tmp / "error.log"), "-c", str(conf)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stderr  # what `nginx -t` says before a reload in production
    process = await asyncio.create_subprocess_exec(NGINX, "-e", str(tmp / "error.log"), "-c", str(conf),
                                                   stdin=subprocess.DEVNULL)

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert process.returncode is None, (tmp / "error.log").read_text()
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await eventually(listening)
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
async def behind_nginx(launch, tmp_path) -> AsyncIterator:
    processes = []

    async def start(config: dict) -> tuple:
        config = {**config, "server": {"trusted_proxies": ["127.0.0.1"]}}
        gw = await launch(config, "--log-format", "json")
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        process, base = await start_nginx(nginx_dir, gw.port)
        processes.append(process)
        return gw, base

    yield start
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


async def test_the_first_event_reaches_the_client_before_the_upstream_finished(behind_nginx, fake_openai, http):
    gw, base = await behind_nginx(openai_config(fake_openai.base_url))
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True},
                         headers={"X-Forwarded-For": "198.51.100.9", "X-Request-ID": "via-nginx"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        assert "Content-Encoding" not in resp.headers  # never compressed: a compressor holds bytes back
        first = await asyncio.wait_for(resp.content.readexactly(len(STREAM[0])), 10)
        assert first == STREAM[0]
        assert not fake_openai.gate.is_set()  # the upstream is still waiting to send the rest
        fake_openai.gate.set()
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first + rest == b"".join(STREAM_WITHOUT_USAGE)

    def logged():
        return [line for line in gw.json_log() if line.get("request_id") == "via-nginx"]

    [line] = await eventually(logged)
    assert line["client"] == "198.51.100.9"  # forwarded by nginx, believed because nginx is trusted


async def test_raw_audio_streams_through_unbuffered_too(behind_nginx, fake_audio, http):  # noqa: F811
    # raw audio carries no X-Accel-Buffering header: only the config's proxy_buffering off lets it through
    gw, base = await behind_nginx(audio_config(fake_audio))
    fake_audio.queue("tts-1", AudioReply(chunks=[MP3[:500], MP3[500:]], content_type="audio/mpeg", gate_after=1))
    body = {"model": "openai/tts-1", "input": "Hello", "voice": "alloy"}
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/mpeg"
        assert "Content-Encoding" not in resp.headers
        first = await asyncio.wait_for(resp.content.readexactly(500), 10)
        assert first == MP3[:500] and not fake_audio.gate.is_set()
        fake_audio.gate.set()
        rest = await asyncio.wait_for(resp.read(), 10)
    assert first + rest == MP3


def wav_of_size(size: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(size - 44))  # silence; 44 bytes of RIFF header
    data = buf.getvalue()
    assert len(data) == size
    return data


def upload(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("model", "openai/gpt-4o-transcribe")
    form.add_field("file", io.BytesIO(data), filename="meeting.wav", content_type="audio/wav")
    return form


async def test_an_upload_of_the_allowed_size_passes_whole(behind_nginx, fake_audio, http):  # noqa: F811
    gw, base = await behind_nginx(audio_config(fake_audio))
    allowed = wav_of_size(25 * MIB)  # client.max_upload_size_mb: 25, the default
    async with http.post(f"{base}/v1/audio/transcriptions", data=upload(allowed)) as resp:
        assert resp.status == 200, (await resp.text(), gw.log()[-4000:])
        assert (await resp.json())["text"]
    assert fake_audio.calls[-1].file == allowed
    # one byte more is the gateway's own JSON 413: nginx's limit lets everything the gateway allows through
    async with http.post(f"{base}/v1/audio/transcriptions", data=upload(wav_of_size(25 * MIB + 1))) as resp:
        assert resp.status == 413
        assert orjson.loads(await resp.read())["error"]["param"] == "file"
    assert len(fake_audio.calls) == 1
