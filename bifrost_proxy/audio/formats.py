"""The audio formats of OpenAI's API and the media types we answer them with."""
from __future__ import annotations

# POST /v1/audio/speech response_format -> Content-Type of the audio we relay
SPEECH_MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",  # Opus in an Ogg container (RFC 7845)
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",  # raw 24 kHz 16-bit signed little-endian mono samples, no header
}
DEFAULT_SPEECH_FORMAT = "mp3"
STREAM_FORMATS = frozenset({"audio", "sse"})

# POST /v1/audio/transcriptions response_format -> Content-Type of a non-stream answer (as OpenAI answers;
# no charset parameter here: aiohttp's Response adds it from its own argument)
TRANSCRIPT_MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain",
    "srt": "text/plain",
    "vtt": "text/plain",
}
DEFAULT_TRANSCRIPT_FORMAT = "json"
JSON_TRANSCRIPT_FORMATS = frozenset({"json", "verbose_json"})
TIMESTAMP_GRANULARITIES = frozenset({"word", "segment"})


def speech_format(body: dict) -> str:
    return body.get("response_format") or DEFAULT_SPEECH_FORMAT


def speech_media_type(body: dict) -> str:
    return SPEECH_MEDIA_TYPES[speech_format(body)]


def wants_sse(body: dict) -> bool:
    return body.get("stream_format") == "sse"


def transcript_format(body: dict) -> str:
    return body.get("response_format") or DEFAULT_TRANSCRIPT_FORMAT
