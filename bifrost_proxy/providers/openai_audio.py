"""The audio half of the ``openai`` wire type (``providers/openai.py`` delegates here).

Speech: ``POST {api_root}/audio/speech`` with the client's JSON, ``model`` rewritten. The answer is relayed
as it arrives (``call.stream`` is always true for speech). ``stream_format: "sse"`` is sent upstream only
to models that stream SSE natively (provider option ``sse_speech_models``, glob patterns, default
``gpt-4o-mini-tts*``: OpenAI's tts-1 and most compatible servers reject it); for every other model the
raw audio is wrapped into ``speech.audio.delta`` events here.

Transcription and translation: ``POST {api_root}/audio/transcriptions`` (``/translations``) as
multipart/form-data: the client's fields in order (``model`` rewritten, ``fallbacks`` dropped,
``timestamp_granularities[]`` repeated) and the spooled file, streamed anew for every attempt. A client's
``stream=true`` is passed upstream except to models that cannot stream (provider option
``non_streaming_transcription_models``, default ``*whisper*``: whisper-1, Groq's whisper-large-v3...)
and for translations; those are called once and their text sent as one delta plus the done event.
The decoder is chosen by what the upstream actually answered (its Content-Type), not by what was asked.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Mapping

import orjson

from bifrost_proxy.audio.decoders import (OneShotTranscript, RawAudioRelay, SpeechSSETranslator, SpeechSSEWrap,
                                          TranscriptSSETranslator, openai_transcript_text)
from bifrost_proxy.audio.formats import JSON_TRANSCRIPT_FORMATS, speech_media_type, transcript_format, wants_sse
from bifrost_proxy.audio.multipart import form_factory
from bifrost_proxy.config.schema import ProviderConfig
from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE, Call, Endpoint, UpstreamRequest

DEFAULT_SSE_SPEECH_MODELS = ("gpt-4o-mini-tts*",)
DEFAULT_NON_STREAMING_TRANSCRIPTION_MODELS = ("*whisper*",)
# form fields of ours, or ones this module sets itself
FORM_SKIP = frozenset({"model", "fallbacks", "stream"})


def patterns(provider: ProviderConfig | None, option: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A provider option holding model-name glob patterns (a string or a list), else ``default``."""
    value = provider.options.get(option) if provider is not None else None
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def matches(model: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatchcase(model, g) for g in globs)


def upstream_streams_transcript(call: Call, provider: ProviderConfig | None) -> bool:
    """Whether to ask the upstream for a transcript stream (else call once and convert)."""
    if not call.stream or call.endpoint is not Endpoint.TRANSCRIPTION:
        return False
    return not matches(call.model, patterns(provider, "non_streaming_transcription_models",
                                            DEFAULT_NON_STREAMING_TRANSCRIPTION_MODELS))


def build_request(call: Call, url: str, headers: dict[str, str],
                  provider: ProviderConfig | None = None) -> UpstreamRequest:
    if call.endpoint is Endpoint.SPEECH:
        body = {k: v for k, v in call.body.items() if k != "fallbacks"}
        body["model"] = call.model
        native_sse = wants_sse(call.body) and matches(
            call.model, patterns(provider, "sse_speech_models", DEFAULT_SSE_SPEECH_MODELS))
        if not native_sse:
            body.pop("stream_format", None)  # raw audio is the default everywhere; SSE is wrapped here
        return UpstreamRequest("POST", url, {**headers, "Content-Type": "application/json"}, orjson.dumps(body))
    if call.upload is None:
        raise ValueError("an audio upload call without its file")
    fields: list[tuple[str, str]] = [("model", call.model)]
    for name, value in call.body.items():
        if name in FORM_SKIP:
            continue
        if isinstance(value, list):
            fields.extend((name, str(v)) for v in value)
        else:
            fields.append((name, str(value)))
    if upstream_streams_transcript(call, provider):
        fields.append(("stream", "true"))
    return UpstreamRequest("POST", url, dict(headers), form_factory(fields, call.upload))


def _is_sse(headers: Mapping[str, str] | None) -> tuple[bool, str]:
    content_type = (headers or {}).get("Content-Type", "").lower()
    return content_type.startswith(SSE_MEDIA_TYPE), content_type


def stream_decoder(call: Call) -> Any:
    sse, content_type = _is_sse(call.upstream_headers)
    if call.endpoint is Endpoint.SPEECH:
        if sse:
            return SpeechSSETranslator(call, None if wants_sse(call.body) else speech_media_type(call.body))
        if wants_sse(call.body):
            return SpeechSSEWrap(call)
        return RawAudioRelay(speech_media_type(call.body))
    if sse:
        return TranscriptSSETranslator(call)
    return OneShotTranscript(call, openai_transcript_text(content_type))


def parse_response(call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
    """A non-stream answer, as the upstream gave it in the requested format; JSON is checked and its usage
    kept for the access log."""
    if call.endpoint is Endpoint.SPEECH:
        return body
    if transcript_format(call.body) in JSON_TRANSCRIPT_FORMATS or "json" in headers.get("Content-Type", ""):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON",
                                code="malformed_upstream_response") from None
        if type(obj) is dict and type(obj.get("usage")) is dict:
            call.usage = obj["usage"]
    return body
