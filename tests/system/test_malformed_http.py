"""Garbage on the gateway's socket, as a user's process logs it: a 400 each, one warning line each (up to the
rate limit), never a traceback (issue 11)."""
from __future__ import annotations

import asyncio

from tests.conftest import openai_config
from tests.system.conftest import eventually

MALFORMED = {
    "no Host header": (b"GET /health HTTP/1.1\r\n\r\n", "Missing 'Host' header"),
    "a header line over the limit": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
                                     "longer than"),
    "broken chunked encoding": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                b"Content-Type: application/json\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "chunk"),
    "TLS to the plain port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), "TLS (HTTPS)"),
    "not HTTP at all": (b"GARBAGE\r\n\r\n", "not HTTP"),
}
LINE = "malformed HTTP request from 127.0.0.1 (answered 400): "


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.transport.abort()


def warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if LINE in line]


async def health_logged(gw, http) -> str:
    """A good request after the bad ones; once its access line is in the log, every line before it is too."""
    async with http.get(f"{gw.base}/health", headers={"X-Request-ID": "after-the-garbage"}) as resp:
        assert resp.status == 200  # still serving
    return await eventually(lambda: "after-the-garbage" in gw.log() and gw.log())


async def test_malformed_requests_get_a_400_and_one_warning_line_each_never_a_traceback(launch, fake_openai, http):
    gw = await launch(openai_config(fake_openai.base_url))
    for name, (raw, _) in MALFORMED.items():
        status_line = (await exchange(gw.port, raw)).split(b"\r\n", 1)[0]
        assert status_line.split()[1] == b"400", name
    log = await health_logged(gw, http)
    lines = warnings(log)
    assert len(lines) == len(MALFORMED)
    for (name, (_, problem)), line in zip(MALFORMED.items(), lines):
        assert " WARNING aiohttp.server: " in line and problem in line, name
    assert "Traceback" not in log and " ERROR " not in log


async def test_a_flood_of_garbage_is_logged_at_most_ten_times_a_minute(launch, fake_openai, http):
    gw = await launch(openai_config(fake_openai.base_url))
    answers = await asyncio.gather(*(exchange(gw.port, MALFORMED["no Host header"][0]) for _ in range(40)))
    assert all(answer.split(b"\r\n", 1)[0].split()[1] == b"400" for answer in answers)
    log = await health_logged(gw, http)
    assert len(warnings(log)) == 10
    assert "Traceback" not in log
