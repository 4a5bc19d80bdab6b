"""Gemini in, Gemini out: the client's request goes to a ``gemini`` or ``vertex`` upstream untouched.

The body is the client's own (every field kept: thought signatures, safety settings, Google tools,
cached content ...; only a ``model`` copy is left out, ``request.py``), the URL and auth are the
provider's as its adapter builds them (the model from the path, after aliases; the client's key never
goes along), and the answer comes back as Gemini sent it. Each stream event's payload is relayed as
sent, framed as Gemini frames it, after it is checked to parse and its usage read into ``call.usage``;
an error event or
garbage ends the stream with one Google-shaped error event. Gemini has no terminal event: a stream that
closes before every candidate gave its ``finishReason`` (and no prompt block explains it) was cut.

Vertex serves Claude models too (publisher ``anthropic``): those are translated, through the OpenAI
shape, as for any other provider (``_Translated``).
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.inbound.base import DialectDecoder
from bifrost_proxy.inbound.genai.errors import error_event
from bifrost_proxy.providers.base import Call, Endpoint, StreamDecoder, UpstreamRequest
from bifrost_proxy.providers.gemini import ADAPTER as GEMINI
from bifrost_proxy.providers.gemini.errors import google_error, parse_google_error
from bifrost_proxy.providers.gemini.response import usage
from bifrost_proxy.providers.vertex import ADAPTER as VERTEX
from bifrost_proxy.providers.vertex.adapter import publisher
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.translate import SSETranslator


def _native_body(call: Call) -> bytes:
    return orjson.dumps(call.native_body)


def _answer(call: Call, body: bytes) -> bytes:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response")
    if obj.get("usageMetadata") is not None:
        call.usage = usage(obj["usageMetadata"])
    return body


class NativeStreamDecoder(SSETranslator):
    """Relays Gemini's SSE events as they come, re-framed the way Gemini frames them."""

    __slots__ = ("_call", "_open", "_blocked")

    keepalive = False  # Gemini clients break on any byte that is not an event (see dialect.py)
    incomplete_message = ("the upstream closed the stream before the answer finished (no finishReason); "
                          "the answer is cut short")

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call = call
        self._open: dict[Any, bool] = {}  # candidate index -> finished
        self._blocked = False

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        frames: list[bytes] = []
        for event in events:
            data = event.data.strip()
            if not data:
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
            error = google_error(obj)
            if error is None and not isinstance(obj, dict):
                error = UpstreamError("the upstream sent a malformed stream event (not a JSON object)",
                                      code="malformed_upstream_event")
            if error is not None:
                self.error = error
                break
            self._track(obj)
            frames.append(b"data: " + data + b"\r\n\r\n")
        return frames

    def _track(self, obj: dict[str, Any]) -> None:
        if obj.get("usageMetadata") is not None:
            self._call.usage = usage(obj["usageMetadata"])  # cumulative: the last one counts
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        for position, cand in enumerate(obj.get("candidates") or ()):
            if isinstance(cand, dict):
                index = cand.get("index", position)
                self._open[index] = self._open.get(index, False) or bool(cand.get("finishReason"))

    def _finish_frames(self) -> list[bytes]:
        if not self._blocked and (not self._open or not all(self._open.values())):
            raise self._incomplete()
        self.done = True
        return []

    def error_frame(self, error: GatewayError) -> bytes:
        return error_event(error)


class GeminiPassthrough:
    wire_type = "gemini"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def validate(self, provider: ProviderConfig) -> list[str]:
        return GEMINI.validate(provider)

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        return UpstreamRequest("POST", GEMINI.generate_url(call, provider), GEMINI.headers(provider, key),
                               _native_body(call))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        return _answer(call, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_google_error(status, headers, body)

    def stream_decoder(self, call: Call) -> StreamDecoder:
        return NativeStreamDecoder(call)


class VertexPassthrough:
    """Vertex's Gemini models take the same body at their own URL, behind Google OAuth or an API key."""

    wire_type = "vertex"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def validate(self, provider: ProviderConfig) -> list[str]:
        return VERTEX.validate(provider)

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        if publisher(call.model) != "google":
            return VERTEX.build_request(call, provider, key)  # Claude on Vertex: translated (call.body)
        method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        return UpstreamRequest("POST", VERTEX.url(call, provider, key, method), VERTEX.headers(provider, key),
                               _native_body(call))

    async def authorize(self, request: UpstreamRequest, provider: ProviderConfig, key: KeyConfig, session: Any,
                        state: dict[str, Any]) -> None:
        await VERTEX.authorize(request, provider, key, session, state)

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if publisher(call.model) != "google":
            return call.dialect.translate_response(call, VERTEX.parse_response(call, headers, body))
        return _answer(call, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return VERTEX.parse_error(call, status, headers, body)

    def stream_decoder(self, call: Call) -> StreamDecoder:
        if publisher(call.model) != "google":
            dialect = call.dialect
            return DialectDecoder(VERTEX.stream_decoder(call), dialect.stream_translator(call), dialect)
        return NativeStreamDecoder(call)


GEMINI_PASSTHROUGH = GeminiPassthrough()
VERTEX_PASSTHROUGH = VertexPassthrough()
