"""POST /v1/audio/speech through the gateway against fake OpenAI and ElevenLabs upstreams, real sockets."""
from __future__ import annotations

import asyncio
import shutil
from base64 import b64decode

import aiohttp
import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.audio import (MP3, SPEECH_EVENTS, AudioReply, audio_config, fake_audio,  # noqa: F401
                               make_wav)

SPEECH = {"model": "openai/gpt-4o-mini-tts", "input": "Hello", "voice": "alloy"}
TTS1 = {**SPEECH, "model": "openai/tts-1"}
ELEVEN = {"model": "elevenlabs/eleven_multilingual_v2", "input": "Hello", "voice": "JBFqnCBsd6RMkjVDRZzb"}


def parse_sse(raw: bytes) -> list:
    out = []
    for frame in raw.split(b"\n\n")[:-1]:
        assert frame.startswith(b"data: "), frame[:50]
        out.append("[DONE]" if frame == b"data: [DONE]" else orjson.loads(frame[6:]))
    return out


def audio_of(events: list) -> bytes:
    return b"".join(b64decode(e["audio"]) for e in events
                    if isinstance(e, dict) and e.get("type") == "speech.audio.delta")


# -- raw audio ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, media_type", [(None, "audio/mpeg"), ("wav", "audio/wav"), ("pcm", "audio/pcm"),
                                             ("flac", "audio/flac"), ("opus", "audio/ogg"), ("aac", "audio/aac")])
async def test_raw_audio_is_relayed_byte_exact(gateway, fake_audio, http, fmt, media_type):
    fake_audio.speech_audio = make_wav(seconds=1.0)
    base = await gateway(audio_config(fake_audio))
    body = {**TTS1, **({"response_format": fmt} if fmt else {})}
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == media_type
        assert resp.headers["Transfer-Encoding"] == "chunked"
        raw = await resp.read()
    assert raw == fake_audio.speech_audio
    seen = fake_audio.calls[0]
    assert seen.path == "/v1/audio/speech" and seen.headers["Authorization"] == f"Bearer {TEST_SECRETS[0]}"
    assert seen.json == {**body, "model": "tts-1"}


async def test_first_audio_bytes_reach_the_client_before_the_upstream_finishes(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(chunks=[MP3[:500], MP3[500:]], content_type="audio/mpeg", gate_after=1))
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json=TTS1) as resp:
        first = await asyncio.wait_for(resp.content.readany(), 5)
        assert first == MP3[:500] and not fake_audio.gate.is_set()
        fake_audio.gate.set()
        rest = await resp.read()
    assert first + rest == MP3


# -- SSE ----------------------------------------------------------------------------------------------------

async def test_native_sse_is_relayed_with_done(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json={**SPEECH, "stream_format": "sse"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
        raw = await resp.read()
    assert raw == b"".join(SPEECH_EVENTS) + b"data: [DONE]\n\n"
    events = parse_sse(raw)
    assert audio_of(events) == MP3
    assert events[-2] == {"type": "speech.audio.done",
                          "usage": {"input_tokens": 14, "output_tokens": 101, "total_tokens": 115}}
    assert fake_audio.calls[0].json["stream_format"] == "sse"


async def test_raw_upstream_audio_is_wrapped_into_sse_exactly(gateway, fake_audio, http):
    fake_audio.speech_audio = make_wav(seconds=1.0)
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json={**TTS1, "stream_format": "sse"}) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        raw = await resp.read()
    events = parse_sse(raw)
    assert audio_of(events) == fake_audio.speech_audio  # the base64 round trip loses and adds nothing
    assert events[-2] == {"type": "speech.audio.done"} and events[-1] == "[DONE]"
    assert "stream_format" not in fake_audio.calls[0].json  # tts-1 cannot stream SSE: not asked to


@pytest.mark.parametrize("body, model, gate_after", [({**SPEECH, "stream_format": "sse"}, "gpt-4o-mini-tts", 1),
                                                      ({**TTS1, "stream_format": "sse"}, "tts-1", 1)])
async def test_first_event_reaches_the_client_before_the_upstream_finishes(gateway, fake_audio, http, body, model,
                                                                           gate_after):
    chunks = SPEECH_EVENTS if model == "gpt-4o-mini-tts" else [MP3[:400], MP3[400:]]
    content_type = "text/event-stream" if model == "gpt-4o-mini-tts" else "audio/mpeg"
    fake_audio.queue(model, AudioReply(chunks=chunks, content_type=content_type, gate_after=gate_after))
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)  # one HTTP chunk per event
        assert not fake_audio.gate.is_set()
        event = parse_sse(first)
        assert len(event) == 1 and event[0]["type"] == "speech.audio.delta"
        assert b64decode(event[0]["audio"]) == (MP3[:417] if model == "gpt-4o-mini-tts" else MP3[:400])
        fake_audio.gate.set()
        rest = await resp.read()
    assert audio_of(parse_sse(first + rest)) == MP3


# -- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, param", [
    ({"input": None}, "input"),
    ({"input": ""}, "input"),
    ({"input": "   "}, "input"),
    ({"input": 5}, "input"),
    ({"input": "x" * 4097}, "input"),
    ({"voice": None}, "voice"),
    ({"voice": ""}, "voice"),
    ({"voice": {"id": 3}}, "voice"),
    ({"response_format": "ogg"}, "response_format"),
    ({"response_format": 3}, "response_format"),
    ({"stream_format": "raw"}, "stream_format"),
    ({"speed": 10}, "speed"),
    ({"speed": "fast"}, "speed"),
    ({"instructions": 5}, "instructions"),
    ({"model": "gpt-4o-mini-tts"}, "model"),
])
async def test_bad_requests_are_400_naming_the_field(gateway, fake_audio, http, change, param):
    base = await gateway(audio_config(fake_audio))
    body = {k: v for k, v in {**SPEECH, **change}.items() if v is not None}
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert not fake_audio.calls


async def test_input_limit_is_inclusive_and_configurable(gateway, fake_audio, http):
    config = audio_config(fake_audio)
    base = await gateway(config)
    async with http.post(f"{base}/v1/audio/speech", json={**TTS1, "input": "x" * 4096}) as resp:
        assert resp.status == 200
        await resp.read()
    config["providers"]["openai"]["options"] = {"max_speech_input_chars": 10}
    base = await gateway(config)
    async with http.post(f"{base}/v1/audio/speech", json={**TTS1, "input": "x" * 11}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == "input" and error["code"] == "input_too_long" and "10" in error["message"]
    assert len(fake_audio.calls) == 1


# -- failures -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 404, 429])
async def test_upstream_errors_keep_status_and_message(gateway, fake_audio, http, status):
    fake_audio.queue("tts-1", AudioReply(status=status, error_message="the voice 'nope' is not available"))
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json=TTS1) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert error["message"] == "the voice 'nope' is not available"


async def test_failure_before_the_first_byte_is_retried(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(status=500), AudioReply())
    base = await gateway(audio_config(fake_audio, max_retries=1, retry_backoff_initial=1, retry_backoff_max=1))
    async with http.post(f"{base}/v1/audio/speech", json=TTS1) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-attempts"] == "2"
        assert await resp.read() == MP3


async def test_no_first_byte_in_time_is_504(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(hang_before=True))
    base = await gateway(audio_config(fake_audio, default_request_timeout_in_seconds=0.3))
    async with http.post(f"{base}/v1/audio/speech", json=TTS1) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"]["type"] == "timeout_error"
    await asyncio.wait_for(fake_audio.client_gone.wait(), 5)  # the abandoned upstream call was closed


async def test_stalled_sse_ends_with_one_timeout_event_and_no_done(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(chunks=[MP3[:400], MP3[400:]], content_type="audio/mpeg", hang_after=1))
    base = await gateway(audio_config(fake_audio, stream_idle_timeout_in_seconds=0.3,
                                      stream_keepalive_interval_in_seconds=0))
    async with http.post(f"{base}/v1/audio/speech", json={**TTS1, "stream_format": "sse"}) as resp:
        raw = await asyncio.wait_for(resp.read(), 10)
    events = parse_sse(raw)
    assert audio_of(events) == MP3[:400]
    assert events[-1]["error"]["type"] == "timeout_error" and "[DONE]" not in events


async def test_stalled_raw_audio_is_cut_so_the_client_knows(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(chunks=[MP3[:400], MP3[400:]], content_type="audio/mpeg", hang_after=1))
    base = await gateway(audio_config(fake_audio, stream_idle_timeout_in_seconds=0.3))
    async with http.post(f"{base}/v1/audio/speech", json=TTS1) as resp:
        assert await asyncio.wait_for(resp.content.readany(), 5) == MP3[:400]
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(resp.read(), 10)


async def test_client_disconnect_cancels_the_upstream(gateway, fake_audio, http):
    fake_audio.queue("tts-1", AudioReply(chunks=[MP3[:400], MP3[400:]], content_type="audio/mpeg", hang_after=1))
    base = await gateway(audio_config(fake_audio))
    resp = await http.post(f"{base}/v1/audio/speech", json=TTS1)
    assert await asyncio.wait_for(resp.content.readany(), 5) == MP3[:400]
    resp.close()
    await asyncio.wait_for(fake_audio.client_gone.wait(), 5)


# -- ElevenLabs ---------------------------------------------------------------------------------------------

async def test_elevenlabs_audio_is_relayed_and_the_request_mapped(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    body = {**ELEVEN, "speed": 1.1, "instructions": "cheerful", "fallbacks": []}
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/mpeg"
        assert await resp.read() == MP3
    seen = fake_audio.calls[0]
    assert seen.path == "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream"
    assert seen.query == {"output_format": "mp3_44100_128"}
    assert seen.headers["xi-api-key"] == TEST_SECRETS[1] and "Authorization" not in seen.headers
    assert seen.json == {"text": "Hello", "model_id": "eleven_multilingual_v2", "voice_settings": {"speed": 1.1}}


async def test_elevenlabs_sse_is_wrapped(gateway, fake_audio, http):
    fake_audio.speech_audio = make_wav(seconds=0.5)
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json={**ELEVEN, "stream_format": "sse",
                                                          "response_format": "pcm"}) as resp:
        events = parse_sse(await resp.read())
    assert audio_of(events) == fake_audio.speech_audio and events[-1] == "[DONE]"
    assert fake_audio.calls[0].query == {"output_format": "pcm_24000"}


async def test_elevenlabs_format_it_lacks_is_400_without_a_call(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json={**ELEVEN, "response_format": "wav"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == "response_format"
    assert not fake_audio.calls


async def test_elevenlabs_input_limit_by_model(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    body = {**ELEVEN, "model": "elevenlabs/eleven_v3", "input": "x" * 5001}
    async with http.post(f"{base}/v1/audio/speech", json=body) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "input"
    assert not fake_audio.calls


async def test_elevenlabs_errors_keep_status_and_message(gateway, fake_audio, http):
    fake_audio.queue("eleven_multilingual_v2", AudioReply(status=401))
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/speech", json=ELEVEN) as resp:
        assert resp.status == 401
        text = await resp.text()
    assert "exceeds your quota" in text and "voice" in text  # the key's name, never its value
    assert TEST_SECRETS[1] not in text


# -- clients ------------------------------------------------------------------------------------------------

async def test_openai_sdk_streaming_response(gateway, fake_audio):
    fake_audio.speech_audio = make_wav(seconds=1.0)
    base = await gateway(audio_config(fake_audio))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client:
        async with client.audio.speech.with_streaming_response.create(
                model="openai/tts-1", voice="alloy", input="Hello", response_format="wav") as response:
            assert response.headers["content-type"] == "audio/wav"
            chunks = [chunk async for chunk in response.iter_bytes()]
        assert b"".join(chunks) == fake_audio.speech_audio
        whole = await client.audio.speech.create(model="openai/gpt-4o-mini-tts", voice="alloy", input="Hi")
        assert whole.content == fake_audio.speech_audio


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_readme_curl_speech_sse(gateway, fake_audio):
    base = await gateway(audio_config(fake_audio))
    process = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/v1/audio/speech", "-H", "Content-Type: application/json",
        "-d", '{"model":"openai/gpt-4o-mini-tts","input":"Hello","voice":"alloy","stream_format":"sse"}',
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    assert out.startswith(b'data: {"type":"speech.audio.delta","audio":"SUQzBAAAAAAA')
    assert out.endswith(b'data: {"type":"speech.audio.done","usage":{"input_tokens":14,"output_tokens":101,'
                        b'"total_tokens":115}}\n\ndata: [DONE]\n\n')
    assert audio_of(parse_sse(out)) == MP3
