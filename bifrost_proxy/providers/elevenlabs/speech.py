"""Text to speech with ElevenLabs' streaming endpoint
(https://elevenlabs.io/docs/api-reference/text-to-speech/stream).

``POST /v1/text-to-speech/{voice_id}/stream?output_format=...`` with ``{"text", "model_id",
"voice_settings"?}``; the answer is raw audio, chunked as it is generated.

=======================  =============================================================================
OpenAI                   ElevenLabs
=======================  =============================================================================
model (after prefix)     ``model_id`` (eleven_multilingual_v2, eleven_flash_v2_5, eleven_v3, ...)
voice (or {"id": ...})   the voice id in the path
input                    ``text``
response_format          ``output_format``: mp3 -> mp3_44100_128, opus -> opus_48000_128 (Ogg),
                         pcm -> pcm_24000 (16-bit little-endian mono, as OpenAI's pcm); wav, aac and flac
                         have no ElevenLabs equivalent: 400 naming ``response_format``
speed                    ``voice_settings.speed`` (ElevenLabs accepts 0.7 to 1.2 and says so itself)
instructions             dropped: ElevenLabs has no style prompt; the speech is still the text asked for
voice_settings, seed,    passed as given (ElevenLabs extensions a client may send)
language_code, ...
=======================  =============================================================================
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

import orjson

from bifrost_proxy.audio.formats import speech_format, speech_media_type
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, UpstreamRequest

OUTPUT_FORMATS = {"mp3": "mp3_44100_128", "opus": "opus_48000_128", "pcm": "pcm_24000"}
PASSTHROUGH = ("voice_settings", "language_code", "seed", "previous_text", "next_text",
               "apply_text_normalization", "pronunciation_dictionary_locators")
# characters per request by model (ElevenLabs help center, "maximum amount of characters"); first match wins
INPUT_LIMITS = (
    ("eleven_flash_v2_5*", 40_000), ("eleven_turbo_v2_5*", 40_000),
    ("eleven_flash_v2*", 30_000), ("eleven_turbo_v2*", 30_000),
    ("eleven_multilingual_v*", 10_000), ("eleven_monolingual_v*", 10_000), ("eleven_english*", 10_000),
    ("eleven_v3*", 5_000),
)


def max_input_chars(model: str) -> int | None:
    for pattern, limit in INPUT_LIMITS:
        if fnmatchcase(model, pattern):
            return limit
    return None  # a model we do not know: ElevenLabs says so itself


def voice_id(body: dict[str, Any]) -> str:
    voice = body.get("voice")
    return voice["id"] if isinstance(voice, dict) else voice


def build_speech_request(call: Call, root: str, headers: dict[str, str]) -> UpstreamRequest:
    fmt = speech_format(call.body)
    output = OUTPUT_FORMATS.get(fmt)
    if output is None:
        raise BadRequest(f"'response_format' {fmt!r} is not available from ElevenLabs; use one of "
                         f"{', '.join(sorted(OUTPUT_FORMATS))}", param="response_format",
                         code="unsupported_response_format")
    body: dict[str, Any] = {"text": call.body["input"], "model_id": call.model}
    for name in PASSTHROUGH:
        if call.body.get(name) is not None:
            body[name] = call.body[name]
    settings = body.get("voice_settings")
    if settings is not None and not isinstance(settings, dict):
        raise BadRequest("'voice_settings' must be an object", param="voice_settings")
    if call.body.get("speed") is not None:
        body["voice_settings"] = {"speed": call.body["speed"], **(settings or {})}
    url = f"{root}/v1/text-to-speech/{quote(voice_id(call.body), safe='')}/stream?output_format={output}"
    headers = {**headers, "Content-Type": "application/json", "Accept": speech_media_type(call.body)}
    return UpstreamRequest("POST", url, headers, orjson.dumps(body))
