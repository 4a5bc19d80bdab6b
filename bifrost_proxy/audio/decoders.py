"""Sans-IO stream decoders for audio answers (``feed(bytes) -> frames``, ``finish() -> frames``).

Which one serves a call depends on what the client asked for and on what the upstream answered (its
Content-Type, in ``call.upstream_headers``); the adapters choose:

==========================  ======================  ===============================================
client wants                upstream sends          decoder
==========================  ======================  ===============================================
speech audio                raw audio               ``RawAudioRelay``: each read is one frame
speech SSE                  raw audio               ``SpeechSSEWrap``: each read -> one delta event
speech SSE / audio          OpenAI speech SSE       ``SpeechSSETranslator`` (events, or their audio)
transcript stream           OpenAI transcript SSE   ``TranscriptSSETranslator``
transcript stream           one whole answer        ``OneShotTranscript``: one delta + done at EOF
==========================  ======================  ===============================================

Every SSE stream ends with ``speech.audio.done`` / ``transcript.text.done`` and then ``[DONE]``; an
upstream that stops before its done event is an error, never a complete stream.
"""
from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from typing import Any, Callable

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE, Call
from bifrost_proxy.providers.errors import openai_stream_error
from bifrost_proxy.sse.decode import SSEDecoder, SSEEvent
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame, raw_data_frame

# a one-shot transcript is held until it is whole; a bigger answer than this is not a transcript
MAX_ONE_SHOT_BYTES = 32 * 1024 * 1024

TextExtractor = Callable[[bytes], tuple[str, Any]]  # whole answer -> (text, usage or None)


def _no_audio() -> UpstreamError:
    return UpstreamError("the upstream answered 200 without any audio", code="empty_upstream_audio")


def _incomplete(what: str) -> UpstreamError:
    return UpstreamError(f"the upstream closed the stream before {what}; the answer is cut short",
                         code="stream_incomplete")


def _malformed(why: str) -> UpstreamError:
    return UpstreamError(f"the upstream sent a malformed stream event ({why})", code="malformed_upstream_event")


def speech_done_frame(usage: Any) -> bytes:
    event: dict[str, Any] = {"type": "speech.audio.done"}
    if usage:
        event["usage"] = usage
    return data_frame(event)


class RawAudioRelay:
    """Audio bytes to the client exactly as they arrive; ``media_type`` is the audio's."""

    __slots__ = ("media_type", "done", "_seen")

    def __init__(self, media_type: str) -> None:
        self.media_type = media_type
        self.done = False
        self._seen = False

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        self._seen = True
        return [data]

    def finish(self) -> list[bytes]:
        if not self._seen:
            raise _no_audio()
        self.done = True
        return []


class SpeechSSEWrap:
    """Raw audio from an upstream that cannot stream SSE, as ``speech.audio.delta`` events: one per read,
    each the base64 of exactly the bytes read, so the decoded events concatenate to the upstream's audio."""

    __slots__ = ("media_type", "done", "_call", "_seen")

    def __init__(self, call: Call) -> None:
        self.media_type = SSE_MEDIA_TYPE
        self.done = False
        self._call = call
        self._seen = False

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        self._seen = True
        return [data_frame({"type": "speech.audio.delta", "audio": b64encode(data).decode("ascii")})]

    def finish(self) -> list[bytes]:
        if not self._seen:
            raise _no_audio()
        self.done = True
        return [speech_done_frame(self._call.usage), DONE_FRAME]


class _EventTranslator:
    """Shared SSE plumbing: decode events, stop at the first bad one (kept in ``error``), require a done."""

    media_type = SSE_MEDIA_TYPE
    what_done = "its done event"

    def __init__(self, call: Call) -> None:
        self._sse = SSEDecoder()
        self._call = call
        self.done = False
        self.error: GatewayError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        return self._frames(self._sse.feed(data))

    def finish(self) -> list[bytes]:
        frames = [] if self.done or self.error is not None else self._frames(self._sse.finish())
        if self.error is not None:
            raise self.error
        if not self.done:
            raise _incomplete(self.what_done)
        return frames

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        frames: list[bytes] = []
        for event in events:
            if event.data == b"[DONE]":
                self._end(frames, None)
                break
            try:
                obj = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                self.error = _malformed("not JSON")
                break
            if type(obj) is not dict:
                self.error = _malformed("not an object")
                break
            if obj.get("error") or event.event == "error":
                self.error = openai_stream_error(obj)
                break
            if self._event(obj, event, frames):
                break
        return frames

    def _event(self, obj: dict, event: SSEEvent, frames: list[bytes]) -> bool:
        """Handle one good event; True when it was the last."""
        raise NotImplementedError

    def _end(self, frames: list[bytes], usage: Any) -> None:
        if type(usage) is dict:
            self._call.usage = usage
        if self.media_type == SSE_MEDIA_TYPE:  # [DONE] belongs to SSE; raw audio simply ends
            frames.append(DONE_FRAME)
        self.done = True


def _as_relayed(event: SSEEvent) -> bytes:
    """The event as the upstream framed it when that is one plain ``data:`` line, else re-framed."""
    if event.event is None and event.raw.startswith(b"data: ") and event.raw.count(b"\n") == 2:
        return event.raw
    return raw_data_frame(event.data)


class SpeechSSETranslator(_EventTranslator):
    """OpenAI's native speech SSE (``speech.audio.delta`` / ``speech.audio.done``): relayed event by event,
    ``[DONE]`` added after the done event; given ``to_raw_media_type`` (a client that asked for audio), the
    deltas' decoded audio is relayed as bytes instead."""

    what_done = "speech.audio.done"

    def __init__(self, call: Call, to_raw_media_type: str | None = None) -> None:
        super().__init__(call)
        self._raw = to_raw_media_type is not None
        self.media_type = to_raw_media_type or SSE_MEDIA_TYPE

    def _event(self, obj: dict, event: SSEEvent, frames: list[bytes]) -> bool:
        kind = obj.get("type")
        if kind == "speech.audio.delta" and self._raw:
            try:
                audio = b64decode(obj.get("audio") or "", validate=True)
            except (binascii.Error, TypeError, ValueError):
                self.error = _malformed("audio is not base64")
                return True
            if audio:
                frames.append(audio)
            return False
        if not self._raw:
            frames.append(_as_relayed(event))
        if kind == "speech.audio.done":
            self._end(frames, obj.get("usage"))
            return True
        return False


class TranscriptSSETranslator(_EventTranslator):
    """OpenAI's transcription SSE: each ``transcript.text.delta`` gains ``text`` (the same piece, for simple
    clients); ``transcript.text.done`` passes with its usage and is followed by ``[DONE]``."""

    what_done = "transcript.text.done"

    def _event(self, obj: dict, event: SSEEvent, frames: list[bytes]) -> bool:
        kind = obj.get("type")
        if kind == "transcript.text.delta":
            delta = obj.get("delta")
            if isinstance(delta, str) and "text" not in obj:
                obj["text"] = delta
            frames.append(data_frame(obj))
            return False
        frames.append(_as_relayed(event))
        if kind == "transcript.text.done":
            self._end(frames, obj.get("usage"))
            return True
        return False


class OneShotTranscript:
    """A whole (non-stream) transcript answer turned into the stream a ``stream=true`` client expects:
    one ``transcript.text.delta`` with all the text, ``transcript.text.done``, ``[DONE]``.

    For models that cannot stream (whisper-1, Groq's whisper) and providers without a streaming API."""

    __slots__ = ("media_type", "done", "error", "_call", "_extract", "_buf")

    def __init__(self, call: Call, extract: TextExtractor) -> None:
        self.media_type = SSE_MEDIA_TYPE
        self.done = False
        self.error: GatewayError | None = None
        self._call = call
        self._extract = extract
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is None:
            self._buf += data
            if len(self._buf) > MAX_ONE_SHOT_BYTES:
                self.error = UpstreamError("the upstream's transcript is larger than "
                                           f"{MAX_ONE_SHOT_BYTES // 1048576} MB", code="upstream_answer_too_large")
        return []

    def finish(self) -> list[bytes]:
        if self.error is not None:
            raise self.error
        text, usage = self._extract(bytes(self._buf))
        self._buf.clear()
        frames = one_shot_frames(text, usage)
        if type(usage) is dict:
            self._call.usage = usage
        self.done = True
        return frames


def one_shot_frames(text: str, usage: Any) -> list[bytes]:
    frames = []
    if text:
        frames.append(data_frame({"type": "transcript.text.delta", "delta": text, "text": text}))
    done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
    if usage:
        done["usage"] = usage
    frames.append(data_frame(done))
    frames.append(DONE_FRAME)
    return frames


def openai_transcript_text(content_type: str) -> TextExtractor:
    """The text of an OpenAI-compatible transcription answer: JSON (``text`` and ``usage``) or plain text."""
    is_json = "json" in content_type

    def extract(body: bytes) -> tuple[str, Any]:
        if not is_json and not body.lstrip().startswith(b"{"):
            try:
                return body.decode("utf-8"), None
            except UnicodeDecodeError:
                raise UpstreamError("the upstream's transcript is not UTF-8 text",
                                    code="malformed_upstream_response") from None
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON",
                                code="malformed_upstream_response") from None
        if type(obj) is not dict or not isinstance(obj.get("text"), str):
            raise UpstreamError("the upstream's transcript has no 'text'", code="malformed_upstream_response")
        return obj["text"], obj.get("usage")

    return extract
