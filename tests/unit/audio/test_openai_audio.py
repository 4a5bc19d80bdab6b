"""The openai wire type's audio requests and decoder choice, without sockets."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.audio.decoders import (OneShotTranscript, RawAudioRelay, SpeechSSETranslator, SpeechSSEWrap,
                                          TranscriptSSETranslator)
from bifrost_proxy.audio.upload import Spool
from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers import openai_audio
from bifrost_proxy.providers.base import Call, Endpoint, Upload
from bifrost_proxy.providers.openai import ADAPTER
from tests.fakes.audio import MP3, TRANSCRIPT_JSON

KEY = KeyConfig(name="k", value="sk-unit-secret")


def provider(**options) -> ProviderConfig:
    return ProviderConfig(name="openai", type="openai", keys=(KEY,),
                          network=NetworkConfig(base_url="http://up.example"), options=options)


def speech_call(model: str = "gpt-4o-mini-tts", **body) -> Call:
    body = {"model": f"openai/{model}", "input": "Hello", "voice": "alloy", **body}
    return Call(endpoint=Endpoint.SPEECH, model=model, body=body, stream=True)


def upload_of(data: bytes = MP3, name: str = "talk.mp3") -> Upload:
    spool = Spool(limit=len(data))
    spool.write(data)
    return Upload(filename=name, content_type="audio/mpeg", size=len(data), open=spool.open)


def transcription_call(model: str, stream: bool, endpoint: Endpoint = Endpoint.TRANSCRIPTION, **fields) -> Call:
    body = {"model": f"openai/{model}", **fields}
    return Call(endpoint=endpoint, model=model, body=body, stream=stream, upload=upload_of())


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def render(request) -> tuple[bytes, object]:
    form = request.body()
    out = Collect()
    await form.write(out)
    return bytes(out.data), form


def test_speech_request_rewrites_model_and_drops_gateway_fields():
    c = speech_call("tts-1", response_format="wav", speed=1.5, fallbacks=["openai/tts-1-hd"])
    req = ADAPTER.build_request(c, provider(), KEY)
    assert req.method == "POST" and req.url == "http://up.example/v1/audio/speech"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == "Bearer sk-unit-secret"
    assert orjson.loads(req.body) == {"model": "tts-1", "input": "Hello", "voice": "alloy",
                                      "response_format": "wav", "speed": 1.5}


@pytest.mark.parametrize("model, options, sent", [
    ("gpt-4o-mini-tts", {}, "sse"),
    ("gpt-4o-mini-tts-2025-03-20", {}, "sse"),
    ("tts-1", {}, None),  # OpenAI rejects sse for tts-1: raw audio, wrapped by the gateway
    ("tts-1", {"sse_speech_models": ["tts-*"]}, "sse"),
    ("gpt-4o-mini-tts", {"sse_speech_models": []}, None),
])
def test_sse_is_asked_upstream_only_from_models_that_stream_it(model, options, sent):
    req = ADAPTER.build_request(speech_call(model, stream_format="sse"), provider(**options), KEY)
    assert orjson.loads(req.body).get("stream_format") == sent


def test_audio_stream_format_is_not_sent_upstream():
    req = ADAPTER.build_request(speech_call(stream_format="audio"), provider(), KEY)
    assert "stream_format" not in orjson.loads(req.body)


async def test_transcription_form_keeps_fields_in_order_and_streams_the_file():
    c = transcription_call("gpt-4o-transcribe", True, language="en", prompt="Names: Zoë", temperature="0.2",
                           response_format="json", **{"timestamp_granularities[]": ["word", "segment"],
                                                      "fallbacks": ["openai/whisper-1"]})
    req = ADAPTER.build_request(c, provider(), KEY)
    assert req.url == "http://up.example/v1/audio/transcriptions" and callable(req.body)
    assert "Content-Type" not in req.headers  # aiohttp sets multipart/form-data with its boundary
    raw, form = await render(req)
    assert form.size == len(raw)  # a Content-Length, not a chunked upload
    for name, value in [("model", "gpt-4o-transcribe"), ("language", "en"), ("prompt", "Names: Zoë"),
                        ("temperature", "0.2"), ("response_format", "json"), ("stream", "true")]:
        assert f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode() in raw
    assert raw.count(b'name="timestamp_granularities[]"') == 2
    assert b"fallbacks" not in raw and b"openai/" not in raw
    assert (b'Content-Type: audio/mpeg\r\nContent-Disposition: form-data; name="file"; filename="talk.mp3"\r\n\r\n'
            + MP3 + b"\r\n") in raw
    again, _ = await render(req)  # every attempt gets a fresh form with the whole file
    assert again.count(MP3) == 1 and len(again) == len(raw)


@pytest.mark.parametrize("model, endpoint, options, streams", [
    ("gpt-4o-transcribe", Endpoint.TRANSCRIPTION, {}, True),
    ("whisper-1", Endpoint.TRANSCRIPTION, {}, False),
    ("whisper-large-v3-turbo", Endpoint.TRANSCRIPTION, {}, False),
    ("distil-whisper-large-v3-en", Endpoint.TRANSCRIPTION, {}, False),
    ("gpt-4o-transcribe", Endpoint.TRANSCRIPTION, {"non_streaming_transcription_models": ["gpt-4o*"]}, False),
    ("whisper-1", Endpoint.TRANSCRIPTION, {"non_streaming_transcription_models": []}, True),
    ("gpt-4o-transcribe", Endpoint.TRANSLATION, {}, False),  # translations never stream upstream
])
async def test_stream_is_asked_upstream_only_from_models_that_can(model, endpoint, options, streams):
    req = ADAPTER.build_request(transcription_call(model, True, endpoint), provider(**options), KEY)
    raw, _ = await render(req)
    assert (b'name="stream"\r\n\r\ntrue' in raw) is streams


@pytest.mark.parametrize("endpoint, body, content_type, expected", [
    (Endpoint.SPEECH, {"response_format": "wav"}, "audio/wav", RawAudioRelay),
    (Endpoint.SPEECH, {"stream_format": "sse"}, "audio/mpeg", SpeechSSEWrap),
    (Endpoint.SPEECH, {"stream_format": "sse"}, "text/event-stream; charset=utf-8", SpeechSSETranslator),
    (Endpoint.SPEECH, {}, "text/event-stream", SpeechSSETranslator),
    (Endpoint.TRANSCRIPTION, {}, "text/event-stream", TranscriptSSETranslator),
    (Endpoint.TRANSCRIPTION, {}, "application/json", OneShotTranscript),
    (Endpoint.TRANSLATION, {"response_format": "text"}, "text/plain", OneShotTranscript),
])
def test_decoder_follows_what_the_upstream_sent(endpoint, body, content_type, expected):
    c = Call(endpoint=endpoint, model="m", body=body, stream=True)
    c.upstream_headers = {"Content-Type": content_type}
    decoder = ADAPTER.stream_decoder(c)
    assert type(decoder) is expected
    if endpoint is Endpoint.SPEECH and "stream_format" not in body:
        assert decoder.media_type == ("audio/wav" if body else "audio/mpeg")  # raw audio to the client


def test_non_stream_transcripts_pass_as_given_and_keep_usage():
    c = transcription_call("gpt-4o-transcribe", False)
    assert ADAPTER.parse_response(c, {"Content-Type": "application/json"}, TRANSCRIPT_JSON) == TRANSCRIPT_JSON
    assert c.usage["total_tokens"] == 21
    text = transcription_call("whisper-1", False, response_format="srt")
    assert ADAPTER.parse_response(text, {"Content-Type": "text/plain"}, b"1\n00:00") == b"1\n00:00"
    assert ADAPTER.response_media_type(text, {"Content-Type": "text/plain; charset=utf-8"}) == "text/plain"
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(c, {"Content-Type": "application/json"}, b"{nope")


def test_patterns_accept_a_single_string():
    assert openai_audio.patterns(provider(sse_speech_models="tts-*"), "sse_speech_models", ()) == ("tts-*",)
