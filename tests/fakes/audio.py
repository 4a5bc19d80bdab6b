"""Fake audio upstreams: OpenAI's audio API and ElevenLabs' TTS/STT, real wire formats, steered per model.

One aiohttp app serves both providers' paths. Tests queue ``AudioReply``s for a model (the last repeats);
a reply can answer an error status in the provider's own error shape, hang before answering, send its
chunks with a delay, stop at a gate (``FakeAudio.gate``) to prove relay ordering, stall mid-stream, or cut
the connection. Every call is recorded with its form fields and file bytes exactly as received.
"""
from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.recording import recording, sse_events

MP3 = recording("tiny.mp3")
M4A = recording("tiny.m4a")
SPEECH_EVENTS = sse_events(recording("openai_speech_stream.sse"))
TRANSCRIPT_EVENTS = sse_events(recording("openai_transcription_stream.sse"))
TRANSCRIPT_JSON = recording("openai_transcription.json")
WHISPER_VERBOSE = recording("openai_whisper_verbose.json")
ELEVENLABS_STT = recording("elevenlabs_stt.json")
ELEVENLABS_ERROR = recording("elevenlabs_error.json")
TRANSCRIPT_TEXT = "Hello this is a test."
SRT = "1\n00:00:00,000 --> 00:00:01,020\nHello this is a test.\n"


def make_wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """A real mono 16-bit WAV file (a 440 Hz tone), made with the standard library."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                                 for i in range(frames)))
    return buf.getvalue()


def split_odd(data: bytes, sizes: tuple[int, ...] = (1, 7, 333, 1000, 4099)) -> list[bytes]:
    """``data`` in pieces of awkward sizes (cycling through ``sizes``)."""
    pieces, i, n = [], 0, 0
    while i < len(data):
        size = sizes[n % len(sizes)]
        pieces.append(data[i:i + size])
        i += size
        n += 1
    return pieces


@dataclass
class AudioReply:
    status: int = 200
    chunks: list[bytes] | None = None  # written one by one (raw audio pieces or SSE events)
    body: bytes | None = None  # a whole answer, written at once
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # between chunks
    hang_before: bool = False
    hang_after: int | None = None  # send this many chunks, then stall
    reset_after: int | None = None  # send this many chunks, then cut the connection
    gate_after: int | None = None  # send this many chunks, then wait for FakeAudio.gate
    error_message: str = "fake upstream error"


@dataclass
class SeenAudioCall:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # JSON bodies
    fields: list[tuple[str, str]] = field(default_factory=list)  # multipart text fields, in order
    file: bytes | None = None
    filename: str | None = None
    file_type: str | None = None

    def field(self, name: str) -> str | None:
        values = [v for k, v in self.fields if k == name]
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]


class FakeAudio:
    def __init__(self) -> None:
        self.replies: dict[str, list[AudioReply]] = {}
        self.calls: list[SeenAudioCall] = []
        self.gate = asyncio.Event()
        self.chunk_sent = asyncio.Event()
        self.client_gone = asyncio.Event()
        self.speech_audio = MP3  # what speech answers as raw audio by default
        self.app = web.Application(client_max_size=1024 ** 3)
        router = self.app.router
        router.add_post("/v1/audio/speech", self.openai_speech)
        router.add_post("/v1/audio/transcriptions", self.openai_transcription)
        router.add_post("/v1/audio/translations", self.openai_transcription)
        router.add_post("/v1/text-to-speech/{voice}/stream", self.elevenlabs_speech)
        router.add_post("/v1/speech-to-text", self.elevenlabs_transcription)

    def queue(self, model: str, *replies: AudioReply) -> None:
        self.replies.setdefault(model, []).extend(replies)

    def _next(self, model: str) -> AudioReply:
        queued = self.replies.get(model)
        if not queued:
            return AudioReply()
        return queued.pop(0) if len(queued) > 1 else queued[0]

    async def _seen(self, request: web.Request) -> SeenAudioCall:
        seen = SeenAudioCall(request.path, dict(request.query), dict(request.headers))
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = bytes(await part.read())
                if part.filename is not None:
                    seen.file, seen.filename = data, part.filename
                    seen.file_type = part.headers.get("Content-Type")
                else:
                    seen.fields.append((part.name, data.decode()))
        else:
            seen.json = orjson.loads(await request.read())
        self.calls.append(seen)
        return seen

    # -- OpenAI ------------------------------------------------------------------------------------------

    async def openai_speech(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        reply = self._next(seen.json.get("model", ""))
        if reply.chunks is None and reply.body is None:
            if seen.json.get("stream_format") == "sse":
                reply = _with(reply, chunks=SPEECH_EVENTS, content_type="text/event-stream")
            else:
                reply = _with(reply, chunks=split_odd(self.speech_audio), content_type="audio/mpeg")
        return await self._answer(request, reply, self._openai_error)

    async def openai_transcription(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        reply = self._next(seen.field("model") or "")
        if reply.chunks is None and reply.body is None:
            fmt = seen.field("response_format") or "json"
            if seen.field("stream") == "true":
                reply = _with(reply, chunks=TRANSCRIPT_EVENTS, content_type="text/event-stream")
            elif fmt == "json":
                reply = _with(reply, body=TRANSCRIPT_JSON, content_type="application/json")
            elif fmt == "verbose_json":
                reply = _with(reply, body=WHISPER_VERBOSE, content_type="application/json")
            elif fmt == "srt":
                reply = _with(reply, body=SRT.encode(), content_type="text/plain; charset=utf-8")
            else:
                reply = _with(reply, body=TRANSCRIPT_TEXT.encode(), content_type="text/plain; charset=utf-8")
        return await self._answer(request, reply, self._openai_error)

    @staticmethod
    def _openai_error(reply: AudioReply) -> bytes:
        return orjson.dumps({"error": {"message": reply.error_message, "type": "invalid_request_error",
                                       "param": None, "code": None}})

    # -- ElevenLabs --------------------------------------------------------------------------------------

    async def elevenlabs_speech(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        reply = self._next(seen.json.get("model_id", ""))
        if reply.chunks is None and reply.body is None:
            reply = _with(reply, chunks=split_odd(self.speech_audio), content_type="audio/mpeg")
        return await self._answer(request, reply, self._elevenlabs_error)

    async def elevenlabs_transcription(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        reply = self._next(seen.field("model_id") or "")
        if reply.chunks is None and reply.body is None:
            reply = _with(reply, body=ELEVENLABS_STT, content_type="application/json")
        return await self._answer(request, reply, self._elevenlabs_error)

    @staticmethod
    def _elevenlabs_error(reply: AudioReply) -> bytes:
        if reply.status == 401:
            return ELEVENLABS_ERROR
        return orjson.dumps({"detail": {"status": "fake_error", "message": reply.error_message}})

    # -- answering ---------------------------------------------------------------------------------------

    async def _answer(self, request: web.Request, reply: AudioReply, error_body) -> web.StreamResponse:
        try:
            if reply.hang_before:
                await asyncio.Event().wait()
            if reply.status >= 400:
                return web.Response(status=reply.status, body=error_body(reply), headers=reply.headers,
                                    content_type="application/json")
            if reply.body is not None:
                return web.Response(body=reply.body, headers={
                    **reply.headers, "Content-Type": reply.content_type or "application/json"})
            response = web.StreamResponse(headers={**reply.headers, "Content-Type": reply.content_type or "audio/mpeg"})
            await response.prepare(request)
            for i, chunk in enumerate(reply.chunks or ()):
                if reply.hang_after == i:
                    await asyncio.Event().wait()
                if reply.reset_after == i:
                    request.transport.abort()
                    return response
                if reply.gate_after == i:
                    await self.gate.wait()
                if reply.delay and i:
                    await asyncio.sleep(reply.delay)
                await response.write(chunk)
                self.chunk_sent.set()
            await response.write_eof()
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            self.client_gone.set()
            raise


def _with(reply: AudioReply, **changes: Any) -> AudioReply:
    return AudioReply(**{**reply.__dict__, **changes})


# -- pytest glue: ``from tests.fakes.audio import fake_audio`` in a test module makes the fixture available --

@pytest.fixture
async def fake_audio(serve_app) -> FakeAudio:
    fake = FakeAudio()
    fake.base_url = await serve_app(fake.app)
    return fake


def audio_config(fake: FakeAudio, client: dict | None = None, **network: Any) -> dict[str, Any]:
    """``openai`` and ``elevenlabs`` providers, both pointed at the fake, one test key each."""
    config = openai_config(fake.base_url, **network)
    config["providers"]["elevenlabs"] = {"keys": [{"name": "voice", "value": TEST_SECRETS[1]}],
                                         "network_config": {"base_url": fake.base_url, **network}}
    if client:
        config["client"] = client
    return config
