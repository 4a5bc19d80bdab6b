"""The elevenlabs wire type: request mapping, answer conversion and errors, without sockets."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.audio.decoders import OneShotTranscript, RawAudioRelay, SpeechSSEWrap
from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import AuthenticationFailed, BadRequest, UpstreamError, UpstreamUnavailable
from bifrost_proxy.providers import adapter_for
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.elevenlabs import ADAPTER
from bifrost_proxy.providers.elevenlabs.transcription import srt_to_vtt
from tests.fakes.audio import ELEVENLABS_ERROR, ELEVENLABS_STT, MP3
from tests.fakes.recording import recording
from tests.unit.audio.test_openai_audio import render, upload_of

KEY = KeyConfig(name="k", value="xi-unit-secret")


def provider(base: str = "https://api.elevenlabs.io") -> ProviderConfig:
    return ProviderConfig(name="elevenlabs", type="elevenlabs", keys=(KEY,), network=NetworkConfig(base_url=base))


def speech(model: str = "eleven_multilingual_v2", **body) -> Call:
    body = {"model": f"elevenlabs/{model}", "input": "Hello", "voice": "JBFqnCBsd6RMkjVDRZzb", **body}
    return Call(endpoint=Endpoint.SPEECH, model=model, body=body, stream=True)


def stt(stream: bool = False, **fields) -> Call:
    return Call(endpoint=Endpoint.TRANSCRIPTION, model="scribe_v1", body={"model": "elevenlabs/scribe_v1", **fields},
                stream=stream, upload=upload_of())


def test_registered_and_scoped():
    assert adapter_for("elevenlabs") is ADAPTER
    assert ADAPTER.supports(Endpoint.SPEECH) and ADAPTER.supports(Endpoint.TRANSCRIPTION)
    assert not ADAPTER.supports(Endpoint.CHAT) and not ADAPTER.supports(Endpoint.TRANSLATION)
    assert ADAPTER.validate(provider("ftp://x")) and not ADAPTER.validate(provider())


@pytest.mark.parametrize("fmt, output, media_type", [
    (None, "mp3_44100_128", "audio/mpeg"),
    ("mp3", "mp3_44100_128", "audio/mpeg"),
    ("opus", "opus_48000_128", "audio/ogg"),
    ("pcm", "pcm_24000", "audio/pcm"),
])
def test_speech_request(fmt, output, media_type):
    c = speech(**({"response_format": fmt} if fmt else {}), speed=1.1, instructions="cheerful",
               voice_settings={"stability": 0.5}, seed=7)
    req = ADAPTER.build_request(c, provider("https://api.elevenlabs.io/v1/"), KEY)
    assert req.url == ("https://api.elevenlabs.io/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream"
                       f"?output_format={output}")
    assert req.headers["xi-api-key"] == "xi-unit-secret" and "Authorization" not in req.headers
    assert req.headers["Content-Type"] == "application/json" and req.headers["Accept"] == media_type
    assert orjson.loads(req.body) == {"text": "Hello", "model_id": "eleven_multilingual_v2", "seed": 7,
                                      "voice_settings": {"speed": 1.1, "stability": 0.5}}
    assert ADAPTER.response_media_type(c, {}) == media_type


def test_voice_object_and_unsafe_voice_ids_are_path_quoted():
    req = ADAPTER.build_request(speech(voice={"id": "a/b?c"}), provider(), KEY)
    assert "/text-to-speech/a%2Fb%3Fc/stream?" in req.url


@pytest.mark.parametrize("fmt", ["wav", "aac", "flac"])
def test_formats_elevenlabs_lacks_are_a_400_naming_the_field(fmt):
    with pytest.raises(BadRequest) as info:
        ADAPTER.build_request(speech(response_format=fmt), provider(), KEY)
    assert info.value.param == "response_format" and fmt in info.value.message


@pytest.mark.parametrize("model, limit", [
    ("eleven_flash_v2_5", 40_000), ("eleven_turbo_v2", 30_000), ("eleven_multilingual_v2", 10_000),
    ("eleven_v3", 5_000), ("some_future_model", None),
])
def test_input_limits_by_model(model, limit):
    assert ADAPTER.max_speech_input_chars(model) == limit


@pytest.mark.parametrize("body, expected", [
    ({"stream_format": "sse"}, SpeechSSEWrap),
    ({}, RawAudioRelay),
])
def test_speech_decoders(body, expected):
    c = speech(**body)
    c.upstream_headers = {"Content-Type": "audio/mpeg"}
    assert type(ADAPTER.stream_decoder(c)) is expected


async def test_transcription_form():
    c = stt(language="en", temperature="0.3", prompt="ignored", response_format="vtt",
            **{"timestamp_granularities[]": ["word"], "keyterms": ["Zoë", "Bifrost"], "diarize": "true"})
    req = ADAPTER.build_request(c, provider(), KEY)
    assert req.url == "https://api.elevenlabs.io/v1/speech-to-text" and req.headers["xi-api-key"]
    raw, form = await render(req)
    assert form.size == len(raw)
    for name, value in [("model_id", "scribe_v1"), ("language_code", "en"), ("temperature", "0.3"),
                        ("timestamps_granularity", "word"), ("additional_formats", '[{"format":"srt"}]'),
                        ("keyterms", "Zoë"), ("keyterms", "Bifrost"), ("diarize", "true")]:
        assert f'name="{name}"\r\n\r\n{value}\r\n'.encode() in raw
    assert b"ignored" not in raw and b'name="model"' not in raw and MP3 in raw


@pytest.mark.parametrize("fmt, expected", [
    (None, b'{"text":"Hello this is a test."}'),
    ("json", b'{"text":"Hello this is a test."}'),
    ("text", b"Hello this is a test."),
    ("srt", b"1\n00:00:00,000 --> 00:00:01,020\nHello this is a test.\n"),
    ("vtt", b"WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.020\nHello this is a test.\n"),
])
def test_transcripts_in_the_requested_format(fmt, expected):
    c = stt(**({"response_format": fmt} if fmt else {}))
    assert ADAPTER.parse_response(c, {"Content-Type": "application/json"}, ELEVENLABS_STT) == expected


def test_verbose_json_has_openai_shape():
    out = orjson.loads(ADAPTER.parse_response(stt(response_format="verbose_json"), {}, ELEVENLABS_STT))
    assert out["task"] == "transcribe" and out["language"] == "eng" and out["text"] == "Hello this is a test."
    assert [w["word"] for w in out["words"]] == ["Hello", "this", "is", "a", "test."]  # spacing dropped
    assert out["duration"] == 1.02 and out["segments"][0]["end"] == 1.02


def test_stream_is_one_shot():
    c = stt(stream=True)
    c.upstream_headers = {"Content-Type": "application/json"}
    decoder = ADAPTER.stream_decoder(c)
    assert isinstance(decoder, OneShotTranscript)
    decoder.feed(ELEVENLABS_STT)
    frames = decoder.finish()
    assert orjson.loads(frames[0][6:]) == {"type": "transcript.text.delta", "delta": "Hello this is a test.",
                                           "text": "Hello this is a test."}
    assert frames[-1] == b"data: [DONE]\n\n"


def test_malformed_transcripts_are_502s():
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(stt(), {}, b"<html>")
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(stt(response_format="srt"), {}, b'{"text": "no srt here"}')


def test_srt_to_vtt_handles_crlf_and_bom():
    assert srt_to_vtt("\ufeff1\r\n00:00:01,500 --> 00:00:02,000\r\nHi\r\n") == \
        "WEBVTT\n\n1\n00:00:01.500 --> 00:00:02.000\nHi\n"


def test_errors():
    quota = ADAPTER.parse_error(stt(), 401, {}, ELEVENLABS_ERROR)
    assert isinstance(quota, AuthenticationFailed) and quota.code == "quota_exceeded"
    assert quota.message.startswith("This request exceeds your quota")
    invalid = ADAPTER.parse_error(stt(), 422, {}, recording("elevenlabs_validation_error.json"))
    assert invalid.status == 422 and invalid.message == "model_id: field required"
    busy = ADAPTER.parse_error(stt(), 503, {"Retry-After": "3"}, b"Service Unavailable")
    assert isinstance(busy, UpstreamUnavailable) and busy.retryable and busy.retry_after == 3
    plain = ADAPTER.parse_error(stt(), 404, {}, b'{"detail": "voice not found"}')
    assert plain.status == 404 and plain.message == "voice not found"
    html = ADAPTER.parse_error(stt(), 502, {}, b"<html><body>bad gateway</body></html>")
    assert html.message == "the upstream answered HTTP 502"
