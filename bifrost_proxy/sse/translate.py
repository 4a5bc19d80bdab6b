"""The ``feed``/``finish`` skeleton shared by every SSE stream decoder (``StreamDecoder`` in
``providers/base.py``): upstream SSE bytes in, whole client frames out, one held error.

A subclass supplies ``_frames(events)``, which turns a batch of whole upstream events into client frames.
When an event is bad it stops there, keeps the ``GatewayError`` in ``error`` and returns the frames made
before it: the relay writes those, then fails the stream with ``error``. From then on ``feed`` returns
nothing and ``finish`` raises the held error. ``_frames`` sets ``done`` once ``[DONE]`` is out; after that
``feed`` and ``finish`` return nothing.

At upstream EOF ``finish`` translates the event left unterminated, if any, then asks ``_finish_frames``
for the last frames: by default none when ``done``, else ``stream_incomplete`` with the subclass's
``incomplete_message``. A wire format with no terminal event (Gemini) writes its ending there instead.
"""
from __future__ import annotations

from typing import Any, ClassVar

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE
from bifrost_proxy.sse.decode import SSEDecoder, SSEEvent


class SSETranslator:
    """Base of the SSE stream decoders; see the module docstring for the contract of its hooks."""

    __slots__ = ("_sse", "done", "error", "media_type")

    incomplete_message: ClassVar[str] = ("the upstream closed the stream before it was complete; "
                                         "the answer is cut short")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self.done = False
        self.error: GatewayError | None = None
        self.media_type = SSE_MEDIA_TYPE

    # the hot path: one call into _frames per read, nothing per event
    def feed(self, data: bytes) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        return self._frames(self._sse.feed(data))

    def finish(self) -> list[bytes]:
        if self.error is not None:
            raise self.error
        if self.done:
            return []
        frames = self._frames(self._sse.finish())
        if self.error is not None:
            raise self._tail_error(self.error)
        frames += self._finish_frames()
        return frames

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        """Frames for whole events; a bad event ends the batch and is kept in ``error`` so the frames
        before it in the same read are still delivered."""
        raise NotImplementedError

    def _finish_frames(self) -> list[bytes]:
        """The frames that end a clean EOF, or raise when the stream was cut short."""
        if not self.done:
            raise self._incomplete()
        return []

    def _incomplete(self) -> UpstreamError:
        return UpstreamError(self.incomplete_message, code="stream_incomplete")

    def _tail_error(self, error: GatewayError) -> GatewayError:
        """What ``finish`` raises when the event left unterminated at EOF was bad: by default its error."""
        return error


def event_object(event: SSEEvent) -> dict[str, Any]:
    """A translated stream's event payload as a JSON object, or the ``malformed_upstream_event`` error."""
    try:
        obj = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamError("the upstream sent a malformed stream event (not JSON)",
                            code="malformed_upstream_event") from None
    if not isinstance(obj, dict):
        raise UpstreamError("the upstream sent a malformed stream event (not an object)",
                            code="malformed_upstream_event")
    return obj
