"""The seam between a client dialect and the one request path (``routing/dispatch.py``, ``sse/relay.py``).

An endpoint of a dialect parses the client's request, translates it into an OpenAI chat body, and builds a
``Call`` with ``call.dialect`` set and ``call.native_body`` the request as sent. Dispatch then, per attempt:

    adapter = dialect.passthrough_adapter(provider_config)   # the provider speaks the dialect natively
    if adapter is None:                                     # else translate at both ends:
        answer = dialect.translate_response(call, openai_json_bytes)
        decoder = DialectDecoder(provider_decoder, dialect.stream_translator(call))

Errors use the dialect's shape: ``error_response`` before a response started (the middleware), and
``stream_error_frame`` for the one event that ends a failed stream (the relay, through the decoder).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bifrost_proxy.errors import GatewayError

if TYPE_CHECKING:
    from bifrost_proxy.config.schema import ProviderConfig
    from bifrost_proxy.providers.base import Adapter, Call, StreamDecoder


class FrameTranslator(Protocol):
    """Sans-IO: OpenAI chat stream frames (``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``, whole frames as
    the provider decoders return them) in, the dialect's frames out. ``call.usage`` holds the upstream's
    usage (OpenAI shape) once known, even when the usage chunk itself was not passed on.

    Optional: ``error_frame(error) -> bytes``, the frame that ends this stream after a failure, when it must
    carry the stream's own state; else the dialect's ``stream_error_frame`` is used."""

    def feed(self, frames: list[bytes]) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        """The provider stream ended cleanly (after ``[DONE]``): the dialect's closing frames, if any."""


class Dialect(Protocol):
    name: str  # "anthropic", "responses", "genai": for logs and metrics
    default_provider: str  # the provider a bare model name goes to

    def passthrough_adapter(self, provider: "ProviderConfig") -> "Adapter | None":
        """An adapter that sends ``call.native_body`` untouched when ``provider`` speaks this dialect
        natively; None when the call must be translated through the OpenAI chat shape."""

    def translate_response(self, call: "Call", body: bytes) -> bytes:
        """A non-stream OpenAI chat completion (JSON bytes) as the dialect's answer (JSON bytes)."""

    def stream_translator(self, call: "Call") -> FrameTranslator: ...

    def error_response(self, error: GatewayError) -> tuple[int, bytes]:
        """Status and JSON body of ``error`` in the dialect's shape, for an answer that has not started."""

    def stream_error_frame(self, error: GatewayError) -> bytes:
        """The one frame that ends a stream that failed after it started."""

    # optional: keepalive = False when the dialect's clients treat a ": ping" comment as a broken stream


class DialectDecoder:
    """A provider's OpenAI-shaped stream decoder with the dialect's translator behind it: the relay sees
    one ``StreamDecoder`` whose frames are already in the client's dialect."""

    __slots__ = ("_inner", "_translator", "_dialect", "media_type", "keepalive")

    def __init__(self, inner: "StreamDecoder", translator: FrameTranslator, dialect: Dialect) -> None:
        self._inner = inner
        self._translator = translator
        self._dialect = dialect
        self.media_type = inner.media_type
        # False: the relay sends no ": ping" comments (a dialect whose clients fail on any non-event byte)
        self.keepalive: bool = getattr(dialect, "keepalive", True)

    @property
    def done(self) -> bool:
        return self._inner.done

    @property
    def error(self) -> GatewayError | None:
        return getattr(self._inner, "error", None)

    def feed(self, data: bytes) -> list[bytes]:
        frames = self._inner.feed(data)
        if not frames:
            return frames
        out = self._translator.feed(frames)
        if self._inner.done:
            out += self._translator.finish()
        return out

    def finish(self) -> list[bytes]:
        was_done = self._inner.done
        out = self._translator.feed(self._inner.finish())
        if not was_done:
            out += self._translator.finish()
        return out

    def error_frame(self, error: GatewayError) -> bytes:
        # a translator that numbers or names its events (Responses: id, sequence_number) ends its own stream
        own = getattr(self._translator, "error_frame", None)
        return own(error) if own is not None else self._dialect.stream_error_frame(error)
