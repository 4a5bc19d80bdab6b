"""POST /v1/audio/transcriptions and /translations through the gateway against fake upstreams, real sockets."""
from __future__ import annotations

import asyncio
import io
import shutil

import aiohttp
import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.audio import (M4A, MP3, SRT, TRANSCRIPT_EVENTS, TRANSCRIPT_JSON, TRANSCRIPT_TEXT,  # noqa: F401
                               AudioReply, audio_config, fake_audio, make_wav)

TEXT = TRANSCRIPT_TEXT


def form(fields: list[tuple[str, str]] | None = None, file: bytes | None = MP3, filename: str = "talk.mp3",
         model: str | None = "openai/gpt-4o-transcribe") -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    if model is not None:
        data.add_field("model", model)
    for name, value in fields or ():
        data.add_field(name, value)
    if file is not None:
        # a BytesIO, as aiohttp warns about sending big bytes objects
        data.add_field("file", io.BytesIO(file), filename=filename, content_type="application/octet-stream")
    return data


def parse_sse(raw: bytes) -> list:
    out = []
    for frame in raw.split(b"\n\n")[:-1]:
        assert frame.startswith(b"data: "), frame[:50]
        out.append("[DONE]" if frame == b"data: [DONE]" else orjson.loads(frame[6:]))
    return out


async def post(http, base: str, data, path: str = "transcriptions"):
    async with http.post(f"{base}/v1/audio/{path}", data=data) as resp:
        return resp.status, resp.headers, await resp.read()


# -- fields and answers -------------------------------------------------------------------------------------

async def test_multipart_fields_arrive_upstream_intact(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    fields = [("language", "de"), ("prompt", "Namen: Zoë, Jürgen 🐉"), ("temperature", "0.2"),
              ("response_format", "json"), ("timestamp_granularities[]", "word"),
              ("timestamp_granularities[]", "segment"), ("include[]", "logprobs"), ("fallbacks", "openai/whisper-1")]
    status, headers, body = await post(http, base, form(fields))
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert orjson.loads(body) == orjson.loads(TRANSCRIPT_JSON)
    seen = fake_audio.calls[0]
    assert seen.path == "/v1/audio/transcriptions"
    assert seen.file == MP3 and seen.filename == "talk.mp3" and seen.file_type == "audio/mpeg"
    assert seen.fields == [("model", "gpt-4o-transcribe")] + fields[:-1]  # order kept, fallbacks ours only
    assert seen.headers["Authorization"] == f"Bearer {TEST_SECRETS[0]}"
    assert int(seen.headers["Content-Length"]) > len(MP3)  # sized, not chunked


@pytest.mark.parametrize("fmt, media_type, expected", [
    ("text", "text/plain", TEXT.encode()),
    ("srt", "text/plain", SRT.encode()),
    ("verbose_json", "application/json", None),
])
async def test_answers_come_back_in_the_requested_format(gateway, fake_audio, http, fmt, media_type, expected):
    base = await gateway(audio_config(fake_audio))
    status, headers, body = await post(http, base, form([("response_format", fmt)], model="openai/whisper-1"))
    assert status == 200 and headers["Content-Type"].startswith(media_type)
    if expected is not None:
        assert body == expected
    else:
        assert orjson.loads(body)["words"][0] == {"word": "Hello", "start": 0.0, "end": 0.3}


@pytest.mark.parametrize("audio, filename, sent_name, sent_type", [
    (make_wav(), "note.wav", "note.wav", "audio/wav"),
    (M4A, "memo.m4a", "memo.m4a", "audio/mp4"),
    (M4A, "blob", "blob.m4a", "audio/mp4"),  # the name says nothing: the bytes decide
    (MP3, "recording.txt", "recording.txt.mp3", "audio/mpeg"),
    (b"OggS\x00\x02" + bytes(100), "v.ogg", "v.ogg", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3" + bytes(100), "v.webm", "v.webm", "audio/webm"),
    (b"fLaC" + bytes(100), "v.flac", "v.flac", "audio/flac"),
])
async def test_every_accepted_format_is_named_for_what_it_is(gateway, fake_audio, http, audio, filename, sent_name,
                                                             sent_type):
    base = await gateway(audio_config(fake_audio))
    status, _, _ = await post(http, base, form(file=audio, filename=filename))
    assert status == 200
    seen = fake_audio.calls[0]
    assert (seen.file, seen.filename, seen.file_type) == (audio, sent_name, sent_type)


async def test_a_big_upload_is_spooled_and_sent_whole(gateway, fake_audio, http):
    big = make_wav(seconds=120, rate=16000)  # ~3.8 MB: past the in-memory threshold
    base = await gateway(audio_config(fake_audio))
    status, _, _ = await post(http, base, form(file=big, filename="long.wav"))
    assert status == 200 and fake_audio.calls[0].file == big


async def test_a_retry_sends_the_whole_file_again(gateway, fake_audio, http):
    wav = make_wav(seconds=1.0)
    fake_audio.queue("gpt-4o-transcribe", AudioReply(status=503), AudioReply())
    base = await gateway(audio_config(fake_audio, max_retries=1, retry_backoff_initial=1, retry_backoff_max=1))
    status, headers, _ = await post(http, base, form(file=wav, filename="a.wav"))
    assert status == 200 and headers["x-bifrost-attempts"] == "2"
    assert [c.file for c in fake_audio.calls] == [wav, wav]


# -- streams ------------------------------------------------------------------------------------------------

async def test_stream_deltas_carry_text_and_end_with_done(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    status, headers, body = await post(http, base, form([("stream", "true"), ("response_format", "json")]))
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = parse_sse(body)
    deltas = events[:-2]
    assert [e["delta"] for e in deltas] == ["Hello", " this", " is", " a", " test", "."]
    assert all(e["type"] == "transcript.text.delta" and e["text"] == e["delta"] for e in deltas)
    assert events[-2]["type"] == "transcript.text.done" and events[-2]["text"] == TEXT
    assert events[-2]["usage"]["total_tokens"] == 21 and events[-1] == "[DONE]"
    assert fake_audio.calls[0].field("stream") == "true"


async def test_first_event_reaches_the_client_before_the_upstream_finishes(gateway, fake_audio, http):
    fake_audio.queue("gpt-4o-transcribe", AudioReply(chunks=TRANSCRIPT_EVENTS, content_type="text/event-stream",
                                                     gate_after=1))
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/transcriptions", data=form([("stream", "true")])) as resp:
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert parse_sse(first) == [{"type": "transcript.text.delta", "delta": "Hello", "logprobs": [],
                                     "text": "Hello"}]
        assert not fake_audio.gate.is_set()
        fake_audio.gate.set()
        rest = await resp.read()
    assert parse_sse(first + rest)[-1] == "[DONE]"


@pytest.mark.parametrize("model, fmt", [("openai/whisper-1", "json"), ("openai/whisper-1", "text"),
                                        ("openai/whisper-large-v3", "verbose_json")])
async def test_models_that_cannot_stream_are_called_once(gateway, fake_audio, http, model, fmt):
    base = await gateway(audio_config(fake_audio))
    status, _, body = await post(http, base, form([("stream", "true"), ("response_format", fmt)], model=model))
    assert status == 200
    events = parse_sse(body)
    assert events[0] == {"type": "transcript.text.delta", "delta": TEXT, "text": TEXT}
    assert events[1]["type"] == "transcript.text.done" and events[1]["text"] == TEXT
    assert events[2] == "[DONE]" and len(events) == 3
    assert fake_audio.calls[0].field("stream") is None  # not asked of a model that rejects it


async def test_translations(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    status, _, body = await post(http, base, form(model="openai/whisper-1"), "translations")
    assert status == 200 and orjson.loads(body)["text"] == TEXT
    assert fake_audio.calls[0].path == "/v1/audio/translations"
    status, _, body = await post(http, base, form([("stream", "true")], model="openai/whisper-1"), "translations")
    assert status == 200 and parse_sse(body)[-1] == "[DONE]"
    status, _, body = await post(http, base, form([("language", "de")]), "translations")
    assert status == 400 and orjson.loads(body)["error"]["param"] == "language"


# -- limits and bad requests --------------------------------------------------------------------------------

async def test_upload_over_the_limit_is_413_before_any_call(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio, client={"max_upload_size_mb": 0.01}))
    # ~2 MB: more than the sockets buffer, so the 413 goes out while the client is still sending
    status, _, body = await post(http, base, form(file=make_wav(seconds=60, rate=16000), filename="big.wav"))
    assert status == 413
    error = orjson.loads(body)["error"]
    assert error["param"] == "file" and "max_upload_size_mb" in error["message"]
    assert not fake_audio.calls
    status, _, _ = await post(http, base, form(file=MP3))  # a small file still passes
    assert status == 200


@pytest.mark.parametrize("fields, file, model, param", [
    ([], b"\x89PNG\r\n\x1a\n" + bytes(64), "openai/gpt-4o-transcribe", "file"),
    ([], b"just some text, not audio", "openai/gpt-4o-transcribe", "file"),
    ([], b"", "openai/gpt-4o-transcribe", "file"),
    ([], None, "openai/gpt-4o-transcribe", "file"),
    ([], MP3, None, "model"),
    ([], MP3, "gpt-4o-transcribe", "model"),
    ([("stream", "maybe")], MP3, "openai/gpt-4o-transcribe", "stream"),
    ([("response_format", "xml")], MP3, "openai/gpt-4o-transcribe", "response_format"),
    ([("temperature", "hot")], MP3, "openai/gpt-4o-transcribe", "temperature"),
    ([("temperature", "-1")], MP3, "openai/gpt-4o-transcribe", "temperature"),
    ([("timestamp_granularities[]", "char")], MP3, "openai/gpt-4o-transcribe", "timestamp_granularities[]"),
    ([("language", "en"), ("language", "de")], MP3, "openai/gpt-4o-transcribe", "language"),
])
async def test_bad_requests_are_400_naming_the_field(gateway, fake_audio, http, fields, file, model, param):
    base = await gateway(audio_config(fake_audio))
    status, _, body = await post(http, base, form(fields, file=file, model=model))
    assert status == 400
    error = orjson.loads(body)["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert not fake_audio.calls


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"--x\r\n"),  # no boundary
    ("multipart/form-data; boundary=x", b"garbage"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nopenai/w'),  # cut
])
async def test_a_malformed_form_is_400(gateway, fake_audio, http, content_type, body):
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/transcriptions", data=body, headers={"Content-Type": content_type}) as resp:
        assert resp.status == 400
        assert "malformed" in (await resp.json())["error"]["message"]
    assert not fake_audio.calls


async def test_a_body_that_is_not_a_form_is_400(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    async with http.post(f"{base}/v1/audio/transcriptions", json={"model": "openai/whisper-1"}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert "multipart/form-data" in error["message"] and error["param"] == "file"


# -- timeouts and disconnects -------------------------------------------------------------------------------

async def test_no_answer_in_time_is_504(gateway, fake_audio, http):
    fake_audio.queue("whisper-1", AudioReply(hang_before=True))
    base = await gateway(audio_config(fake_audio, default_request_timeout_in_seconds=0.3))
    status, _, body = await post(http, base, form(model="openai/whisper-1"))
    assert status == 504 and orjson.loads(body)["error"]["type"] == "timeout_error"


async def test_stalled_stream_ends_with_a_timeout_event_and_no_done(gateway, fake_audio, http):
    fake_audio.queue("gpt-4o-transcribe", AudioReply(chunks=TRANSCRIPT_EVENTS, content_type="text/event-stream",
                                                     hang_after=2))
    base = await gateway(audio_config(fake_audio, stream_idle_timeout_in_seconds=0.3,
                                      stream_keepalive_interval_in_seconds=0))
    status, _, body = await post(http, base, form([("stream", "true")]))
    events = parse_sse(body)
    assert status == 200 and [e.get("delta") for e in events[:2]] == ["Hello", " this"]
    assert events[-1]["error"]["type"] == "timeout_error" and "[DONE]" not in events


async def test_client_disconnect_cancels_the_upstream(gateway, fake_audio, http):
    fake_audio.queue("gpt-4o-transcribe", AudioReply(chunks=TRANSCRIPT_EVENTS, content_type="text/event-stream",
                                                     hang_after=1))
    base = await gateway(audio_config(fake_audio))
    resp = await http.post(f"{base}/v1/audio/transcriptions", data=form([("stream", "true")]))
    await asyncio.wait_for(resp.content.readchunk(), 5)
    resp.close()
    await asyncio.wait_for(fake_audio.client_gone.wait(), 5)


# -- ElevenLabs ---------------------------------------------------------------------------------------------

async def test_elevenlabs_transcription(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    fields = [("language", "en"), ("temperature", "0.1"), ("prompt", "dropped"),
              ("timestamp_granularities[]", "word")]
    status, _, body = await post(http, base, form(fields, model="elevenlabs/scribe_v1"))
    assert status == 200 and orjson.loads(body) == {"text": TEXT}
    seen = fake_audio.calls[0]
    assert seen.path == "/v1/speech-to-text" and seen.headers["xi-api-key"] == TEST_SECRETS[1]
    assert seen.fields == [("model_id", "scribe_v1"), ("language_code", "en"), ("temperature", "0.1"),
                           ("timestamps_granularity", "word")]
    assert seen.file == MP3


async def test_elevenlabs_stream_is_one_delta_and_done(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    status, _, body = await post(http, base, form([("stream", "true")], model="elevenlabs/scribe_v1"))
    assert status == 200
    assert parse_sse(body) == [{"type": "transcript.text.delta", "delta": TEXT, "text": TEXT},
                               {"type": "transcript.text.done", "text": TEXT}, "[DONE]"]


async def test_elevenlabs_subtitles_and_unsupported_translation(gateway, fake_audio, http):
    base = await gateway(audio_config(fake_audio))
    status, headers, body = await post(http, base, form([("response_format", "vtt")], model="elevenlabs/scribe_v1"))
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert body.startswith(b"WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.020")
    assert fake_audio.calls[0].field("additional_formats") == '[{"format":"srt"}]'
    status, _, _ = await post(http, base, form(model="elevenlabs/scribe_v1"), "translations")
    assert status == 404  # ElevenLabs has no translations


# -- clients ------------------------------------------------------------------------------------------------

async def test_openai_sdk_transcriptions(gateway, fake_audio):
    base = await gateway(audio_config(fake_audio))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client:
        stream = await client.audio.transcriptions.create(file=("talk.mp3", MP3), model="openai/gpt-4o-transcribe",
                                                          stream=True)
        events = [event async for event in stream]
        assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == TEXT
        assert events[-1].type == "transcript.text.done" and events[-1].text == TEXT
        result = await client.audio.transcriptions.create(file=("talk.mp3", MP3), model="openai/whisper-1",
                                                          timestamp_granularities=["word"],
                                                          response_format="verbose_json")
        assert result.text == TEXT
    assert fake_audio.calls[-1].values("timestamp_granularities[]") == ["word"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_readme_curl_transcription_stream(gateway, fake_audio, tmp_path):
    (tmp_path / "talk.mp3").write_bytes(MP3)
    base = await gateway(audio_config(fake_audio))
    process = await asyncio.create_subprocess_exec(
        "curl", "-sN", f"{base}/v1/audio/transcriptions", "--form", "file=@talk.mp3",
        "--form", 'model="openai/gpt-4o-transcribe"', "--form", 'stream="true"', "--form", 'response_format="json"',
        stdout=asyncio.subprocess.PIPE, cwd=tmp_path)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    assert out.startswith(b'data: {"type":"transcript.text.delta","delta":"Hello","logprobs":[],"text":"Hello"}\n\n')
    assert out.endswith(b"data: [DONE]\n\n")
    assert fake_audio.calls[0].file == MP3 and fake_audio.calls[0].field("model") == "gpt-4o-transcribe"
