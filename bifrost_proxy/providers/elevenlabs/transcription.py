"""Speech to text with ElevenLabs (https://elevenlabs.io/docs/api-reference/speech-to-text/convert).

``POST /v1/speech-to-text`` as multipart/form-data; the answer is one JSON object
``{"language_code", "language_probability", "text", "words": [{"text", "start", "end", "type", ...}]}``.
ElevenLabs does not stream transcripts over HTTP, so ``stream=true`` calls it once and sends the text
as one delta plus the done event.

======================================  ===================================================================
OpenAI                                  ElevenLabs
======================================  ===================================================================
file                                    ``file`` (streamed from the spool)
model (after prefix)                    ``model_id`` (scribe_v1, ...)
language                                ``language_code``
temperature                             ``temperature``
timestamp_granularities[] with word     ``timestamps_granularity=word``
prompt                                  dropped: ElevenLabs has no prompt; the transcript is still right
response_format json / text             ``{"text": ...}`` / the text
response_format verbose_json            OpenAI's shape: task, language, duration, text, one segment, words
response_format srt / vtt               ``additional_formats=[{"format": "srt"}]``; vtt converted from it
tag_audio_events, num_speakers,         passed as given (ElevenLabs extensions a client may send)
diarize, seed, keyterms, ...
======================================  ===================================================================
"""
from __future__ import annotations

import re
from base64 import b64decode
from typing import Any

import orjson

from bifrost_proxy.audio.formats import transcript_format
from bifrost_proxy.audio.multipart import form_factory
from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import Call, UpstreamRequest

PASSTHROUGH = ("tag_audio_events", "num_speakers", "diarize", "diarization_threshold", "seed", "keyterms",
               "file_format", "enable_logging")
SRT_TIME = re.compile(r"(\d{2}:\d{2}:\d{2}),(\d{3})")


def build_transcription_request(call: Call, root: str, headers: dict[str, str]) -> UpstreamRequest:
    if call.upload is None:
        raise ValueError("a transcription call without its file")
    body = call.body
    fields: list[tuple[str, str]] = [("model_id", call.model)]
    if body.get("language"):
        fields.append(("language_code", str(body["language"])))
    if body.get("temperature") is not None:
        fields.append(("temperature", str(body["temperature"])))
    if "word" in (body.get("timestamp_granularities[]") or ()):
        fields.append(("timestamps_granularity", "word"))
    if transcript_format(body) in ("srt", "vtt"):
        fields.append(("additional_formats", '[{"format":"srt"}]'))
    for name in PASSTHROUGH:
        value = body.get(name)
        if isinstance(value, list):
            fields.extend((name, str(v)) for v in value)
        elif value is not None:
            fields.append((name, str(value)))
    return UpstreamRequest("POST", f"{root}/v1/speech-to-text", dict(headers), form_factory(fields, call.upload))


def _answer(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response") \
            from None
    if type(obj) is not dict or not isinstance(obj.get("text"), str):
        raise UpstreamError("the upstream's transcript has no 'text'", code="malformed_upstream_response")
    return obj


def transcript_text(body: bytes) -> tuple[str, Any]:
    """For the one-shot stream: the whole text (ElevenLabs reports no token usage)."""
    return _answer(body)["text"], None


def parse_transcript(call: Call, body: bytes) -> bytes:
    """ElevenLabs' answer in the response_format the client asked for."""
    obj = _answer(body)
    text: str = obj["text"]
    fmt = transcript_format(call.body)
    if fmt == "text":
        return text.encode()
    if fmt == "verbose_json":
        return orjson.dumps(_verbose(obj))
    if fmt in ("srt", "vtt"):
        srt = _srt(obj)
        return (srt if fmt == "srt" else srt_to_vtt(srt)).encode()
    return orjson.dumps({"text": text})


def _verbose(obj: dict[str, Any]) -> dict[str, Any]:
    words = [{"word": w.get("text", ""), "start": w.get("start") or 0.0, "end": w.get("end") or 0.0}
             for w in obj.get("words") or () if isinstance(w, dict) and w.get("type", "word") == "word"]
    duration = max((w["end"] for w in words), default=0.0)
    start = words[0]["start"] if words else 0.0
    return {"task": "transcribe", "language": obj.get("language_code"), "duration": duration,
            "text": obj["text"], "words": words,
            "segments": [{"id": 0, "start": start, "end": duration, "text": obj["text"]}] if obj["text"] else []}


def _srt(obj: dict[str, Any]) -> str:
    for item in obj.get("additional_formats") or ():
        if isinstance(item, dict) and item.get("requested_format") == "srt" and isinstance(item.get("content"), str):
            content = item["content"]
            return b64decode(content).decode() if item.get("is_base64_encoded") else content
    raise UpstreamError("the upstream's answer has no SRT subtitles although they were requested",
                        code="malformed_upstream_response")


def srt_to_vtt(srt: str) -> str:
    """WebVTT is SRT with a header and dots before the milliseconds (cue numbers are valid cue ids)."""
    body = SRT_TIME.sub(r"\1.\2", srt.replace("\r\n", "\n")).lstrip("\ufeff")
    return "WEBVTT\n\n" + body
