"""Audio stream decoders, fed recordings split at every offset: exact bytes out, done events, errors."""
from __future__ import annotations

from base64 import b64decode

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from bifrost_proxy.audio.decoders import (OneShotTranscript, RawAudioRelay, SpeechSSETranslator, SpeechSSEWrap,
                                          TranscriptSSETranslator, openai_transcript_text)
from bifrost_proxy.errors import GatewayError, RateLimited, UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE, Call, Endpoint
from bifrost_proxy.sse.encode import DONE_FRAME
from tests.fakes.audio import MP3, SPEECH_EVENTS, TRANSCRIPT_EVENTS, TRANSCRIPT_JSON, WHISPER_VERBOSE, make_wav

SPEECH_SSE = b"".join(SPEECH_EVENTS)
TRANSCRIPT_SSE = b"".join(TRANSCRIPT_EVENTS)


def call(endpoint: Endpoint = Endpoint.SPEECH, **body) -> Call:
    return Call(endpoint=endpoint, model="m", body=body, stream=True)


def run(decoder, pieces: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    for piece in pieces:
        frames += decoder.feed(piece)
        error = getattr(decoder, "error", None)
        if error is not None:
            raise error
    return frames + decoder.finish()


def halves(data: bytes):
    for cut in range(len(data) + 1):
        yield [data[:cut], data[cut:]]


def events(frames: list[bytes]) -> list[dict | str]:
    out = []
    for frame in b"".join(frames).split(b"\n\n")[:-1]:
        assert frame.startswith(b"data: ")
        payload = frame[6:]
        out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


def audio_of(parsed: list) -> bytes:
    return b"".join(b64decode(e["audio"]) for e in parsed if isinstance(e, dict) and e["type"] == "speech.audio.delta")


# -- raw audio ----------------------------------------------------------------------------------------------

def test_raw_relay_is_byte_exact_at_every_split():
    for pieces in halves(MP3):
        decoder = RawAudioRelay("audio/mpeg")
        frames = run(decoder, pieces)
        assert b"".join(frames) == MP3 and decoder.done
        assert all(frames)  # no empty writes
    assert decoder.media_type == "audio/mpeg"


def test_raw_relay_without_audio_is_an_error():
    with pytest.raises(UpstreamError):
        RawAudioRelay("audio/mpeg").finish()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=40))
def test_sse_wrap_round_trips_any_chunking(sizes):
    data = make_wav(seconds=0.5)
    pieces, i = [], 0
    for size in sizes:
        pieces.append(data[i:i + size])
        i += size
    pieces.append(data[i:])
    decoder = SpeechSSEWrap(call(stream_format="sse"))
    frames = run(decoder, pieces)
    parsed = events(frames)
    assert audio_of(parsed) == data
    assert parsed[-2] == {"type": "speech.audio.done"} and parsed[-1] == "[DONE]"
    assert decoder.done and decoder.media_type == SSE_MEDIA_TYPE
    # one event per non-empty upstream read: nothing waits for more bytes
    assert len(parsed) - 2 == sum(1 for p in pieces if p)


def test_sse_wrap_done_carries_usage_when_known():
    c = call(stream_format="sse")
    c.usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    parsed = events(run(SpeechSSEWrap(c), [b"abc"]))
    assert parsed[-2] == {"type": "speech.audio.done", "usage": c.usage}


def test_sse_wrap_without_audio_is_an_error():
    with pytest.raises(UpstreamError):
        SpeechSSEWrap(call()).finish()


# -- OpenAI speech SSE --------------------------------------------------------------------------------------

def test_native_speech_sse_is_relayed_with_done_at_every_split():
    for pieces in halves(SPEECH_SSE):
        c = call(stream_format="sse")
        decoder = SpeechSSETranslator(c)
        frames = run(decoder, pieces)
        assert b"".join(frames) == SPEECH_SSE + DONE_FRAME
        assert decoder.done
    assert audio_of(events(frames)) == MP3
    assert c.usage == {"input_tokens": 14, "output_tokens": 101, "total_tokens": 115}


def test_native_speech_sse_to_raw_audio():
    for pieces in halves(SPEECH_SSE):
        c = call()
        decoder = SpeechSSETranslator(c, "audio/mpeg")
        frames = run(decoder, pieces)
        assert b"".join(frames) == MP3 and DONE_FRAME not in frames
        assert decoder.media_type == "audio/mpeg" and decoder.done
        assert c.usage["total_tokens"] == 115


def test_native_speech_sse_with_crlf_and_event_lines():
    raw = b"".join(b"event: speech.audio.delta\r\n" + e.replace(b"\n", b"\r\n") for e in SPEECH_EVENTS)
    frames = run(SpeechSSETranslator(call(stream_format="sse")), [raw])
    parsed = events(frames)
    assert audio_of(parsed) == MP3 and parsed[-1] == "[DONE]"


@pytest.mark.parametrize("tail, error", [
    (b"", "stream_incomplete"),  # cut before speech.audio.done
    (b"data: {not json\n\n", "malformed_upstream_event"),
    (b"data: [1, 2]\n\n", "malformed_upstream_event"),
])
def test_native_speech_sse_failures(tail, error):
    decoder = SpeechSSETranslator(call(stream_format="sse"))
    with pytest.raises(GatewayError) as info:
        run(decoder, [b"".join(SPEECH_EVENTS[:2]) + tail])
    assert info.value.code == error


def test_native_speech_error_event_keeps_frames_before_it():
    error = b'data: {"error": {"message": "slow down", "type": "rate_limit_error"}}\n\n'
    decoder = SpeechSSETranslator(call(stream_format="sse"))
    frames = decoder.feed(SPEECH_EVENTS[0] + error)
    assert frames == [SPEECH_EVENTS[0]]
    assert isinstance(decoder.error, RateLimited) and decoder.error.message == "slow down"


def test_bad_base64_to_raw_is_an_error():
    decoder = SpeechSSETranslator(call(), "audio/mpeg")
    decoder.feed(b'data: {"type": "speech.audio.delta", "audio": "***"}\n\n')
    assert decoder.error is not None and decoder.error.code == "malformed_upstream_event"


# -- OpenAI transcript SSE ----------------------------------------------------------------------------------

def test_transcript_deltas_gain_text_at_every_split():
    for pieces in halves(TRANSCRIPT_SSE):
        c = call(Endpoint.TRANSCRIPTION)
        decoder = TranscriptSSETranslator(c)
        parsed = events(run(decoder, pieces))
        assert decoder.done
    deltas = [e for e in parsed[:-2]]
    assert all(e["type"] == "transcript.text.delta" and e["text"] == e["delta"] for e in deltas)
    assert "".join(e["delta"] for e in deltas) == "Hello this is a test."
    assert parsed[-2]["type"] == "transcript.text.done" and parsed[-2]["text"] == "Hello this is a test."
    assert parsed[-1] == "[DONE]"
    assert c.usage["total_tokens"] == 21


def test_transcript_done_event_is_relayed_byte_for_byte():
    frames = run(TranscriptSSETranslator(call(Endpoint.TRANSCRIPTION)), [TRANSCRIPT_SSE])
    assert frames[-2:] == [TRANSCRIPT_EVENTS[-1], DONE_FRAME]


def test_transcript_cut_short_is_an_error():
    with pytest.raises(UpstreamError) as info:
        run(TranscriptSSETranslator(call(Endpoint.TRANSCRIPTION)), [b"".join(TRANSCRIPT_EVENTS[:3])])
    assert info.value.code == "stream_incomplete"


# -- one-shot transcripts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, usage", [
    (TRANSCRIPT_JSON, "application/json", 21),
    (WHISPER_VERBOSE, "application/json", None),
    (b"Hello this is a test.", "text/plain; charset=utf-8", None),
])
def test_one_shot_is_one_delta_and_done(body, content_type, usage):
    c = call(Endpoint.TRANSCRIPTION)
    decoder = OneShotTranscript(c, openai_transcript_text(content_type))
    assert decoder.feed(body[:5]) == [] and decoder.feed(body[5:]) == []
    parsed = events(decoder.finish())
    assert parsed[0] == {"type": "transcript.text.delta", "delta": "Hello this is a test.",
                         "text": "Hello this is a test."}
    assert parsed[1]["type"] == "transcript.text.done" and parsed[1]["text"] == "Hello this is a test."
    assert parsed[2] == "[DONE]" and len(parsed) == 3 and decoder.done
    if usage:
        assert parsed[1]["usage"]["total_tokens"] == usage == c.usage["total_tokens"]
    elif content_type == "application/json":
        assert parsed[1]["usage"] == {"type": "duration", "seconds": 1}


def test_one_shot_empty_text_sends_only_done():
    decoder = OneShotTranscript(call(Endpoint.TRANSCRIPTION), openai_transcript_text("application/json"))
    decoder.feed(b'{"text": ""}')
    assert events(decoder.finish()) == [{"type": "transcript.text.done", "text": ""}, "[DONE]"]


@pytest.mark.parametrize("body, content_type", [
    (b"{broken", "application/json"),
    (b'{"no_text": 1}', "application/json"),
    (b"\xff\xfe not utf-8", "text/plain"),
])
def test_one_shot_malformed_answers_are_errors(body, content_type):
    decoder = OneShotTranscript(call(Endpoint.TRANSCRIPTION), openai_transcript_text(content_type))
    decoder.feed(body)
    with pytest.raises(UpstreamError):
        decoder.finish()
