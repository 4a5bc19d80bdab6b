"""The benchmark's own parts: the fake upstream speaks OpenAI, the load generator's parser, the floor, the table.

CI also runs ``python -m bench --quick`` end to end; these tests pin down the pieces it relies on.
"""
from __future__ import annotations

import asyncio
import io
import wave
from typing import AsyncIterator

import openai
import orjson
import pytest

from bench.client import Connection, build_request
from bench.floor import make_app as make_floor
from bench.payloads import BOUNDARY, chat, transcription, wav
from bench.report import build_table
from bench.upstream import Answers, UpstreamProtocol

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    answers = Answers()
    server = await asyncio.get_running_loop().create_server(lambda: UpstreamProtocol(answers), "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def sdk(upstream) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{upstream}/v1", api_key="sk-bench", max_retries=0) as c:
        yield c


async def test_upstream_answers_what_the_openai_sdk_parses(sdk):
    result = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.object == "chat.completion" and result.model == "gpt-4o-mini"
    assert result.choices[0].message.content.startswith("Once upon a time")
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens

    stream = await sdk.chat.completions.create(model="gpt-4o-mini-c5-d1", messages=MESSAGES, stream=True,
                                               stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert [c.object for c in chunks] == ["chat.completion.chunk"] * 6
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:5]) == "Once upon a"
    assert chunks[4].choices[0].finish_reason == "stop"
    assert chunks[5].choices == [] and chunks[5].usage.completion_tokens == 5

    text = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(4096)))
    assert text.text.startswith("Once upon a time")


async def test_upstream_stream_wire_ends_with_done_in_http_chunks(http, upstream):
    async with http.post(f"http://127.0.0.1:{upstream}/v1/chat/completions",
                         data=chat(3, 0)) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert resp.content_type == "text/event-stream"
        body = await resp.read()
    events = body.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""] and len(events) == 5


async def test_upstream_reads_pipelined_and_chunked_requests(upstream):
    reader, writer = await asyncio.open_connection("127.0.0.1", upstream)
    one = build_request("POST", "/v1/chat/completions", upstream, b'{"model":"a"}', "application/json")
    chunked = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"mod\r\n8\r\nel\":\"b\"}\r\n0\r\n\r\n")
    writer.write(one + chunked)
    answers = []
    for _ in range(2):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        answers.append(orjson.loads(await reader.readexactly(length))["model"])
    writer.close()
    assert answers == ["a", "b"]


class FakeTransport:
    def __init__(self) -> None:
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        pass


@pytest.mark.parametrize("wire", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5;x=1\r\nworld\r\n0\r\n\r\n",
])
async def test_loadgen_parser_at_every_split(wire):
    for cut in range(1, len(wire)):
        conn = Connection()
        conn.connection_made(FakeTransport())  # type: ignore[arg-type]
        pending = conn.send(b"GET / HTTP/1.1\r\n\r\n", keep_body=True)
        conn.data_received(wire[:cut])
        assert not pending.done() or cut >= len(wire) - 2
        conn.data_received(wire[cut:])
        reply = pending.result()
        assert (reply.status, bytes(reply.body), reply.tail) == (200, b"hello world", b"hello world")
        assert reply.t_send <= reply.t_first <= reply.t_end


async def test_loadgen_sees_a_stream_arrive_over_time(upstream):
    conn = await Connection.open(upstream)
    reply = await asyncio.wait_for(conn.send(build_request(
        "POST", "/v1/chat/completions", upstream, chat(4, 30), "application/json")), 30)
    conn.close()
    assert reply.tail.endswith(b"data: [DONE]\n\n")
    # 3 gaps of 30 ms after the first event: a buffered answer would arrive all at once
    assert reply.t_end - reply.t_first >= 60_000_000


async def test_floor_relays_json_streams_and_uploads(serve_app, http, upstream):
    base = await serve_app(make_floor(f"http://127.0.0.1:{upstream}"))
    json_type = {"Content-Type": "application/json"}
    async with http.post(f"{base}/v1/chat/completions", data=chat(), headers=json_type) as resp:
        assert (await resp.json())["model"] == "gpt-4o-mini"  # the floor strips the provider prefix too
    async with http.post(f"{base}/v1/chat/completions", data=chat(3, 1), headers=json_type) as resp:
        assert resp.content_type == "text/event-stream"
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")
    async with http.post(f"{base}/v1/audio/transcriptions", data=transcription(65536),
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}) as resp:
        assert resp.status == 200 and "text" in await resp.json()


def test_wav_is_a_real_wav_file():
    with wave.open(io.BytesIO(wav(32044))) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()) == (1, 16000, 2, 16000)


def figures(rps: float, us: float, held: int = 1000, rss: float = 60.0) -> dict:
    return {"S1": {"rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0},
            "S5": {"us_per_req": us, "errors": 0},
            "S4": {"held": held, "streams": 1000, "rss_peak_mib": rss, "rss_idle_mib": 30.0, "workers": 1,
                   "procs": 1, "errors": 0}}


def test_table_marks_each_target_met_or_not():
    results = {"direct": figures(20000, 0), "floor": figures(5000, 100), "bifrost w=1": figures(5200, 120, 999),
               "bifrost w=2": {"na": "n/a (no --workers)"}}
    table = build_table(results, list(results), {"bifrost w=1": 1}).markdown()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    s1 = rows["S1 throughput, non-stream, 64 conns"]
    assert "5,200 (0.26x direct, 1.04x floor)" in s1 and s1.endswith("| met | n/a |")
    s5 = rows["S5 gateway CPU per request (non-stream)"]
    assert "120 (1.20x floor)" in s5 and s5.endswith("| **not met** | n/a |")
    s4 = rows["S4 1,000 slow streams open at once"]
    assert "999/1,000 held" in s4 and s4.endswith("| **not met** | n/a |")
    assert "n/a (no --workers)" in s1
