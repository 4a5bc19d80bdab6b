"""Cohere v2 chat stream -> OpenAI ``chat.completion.chunk`` events (https://docs.cohere.com/docs/streaming).

Cohere frames each event as ``event: <type>`` plus one ``data: {json}`` line whose ``type`` repeats it:

=================  =====================================================================================
Cohere event       OpenAI chunk
=================  =====================================================================================
message-start      ``delta: {"role": "assistant", "content": ""}``; Cohere's ``id`` names the stream
content-delta      ``delta: {"content": text}`` (thinking blocks of reasoning models are left out)
tool-plan-delta    ``delta: {"content": text}``: the plan Cohere writes before its tool calls
tool-call-start    ``delta: {"tool_calls": [{index, id, type, function: {name, arguments: ""}}]}``
tool-call-delta    ``delta: {"tool_calls": [{index, function: {arguments: fragment}}]}``
message-end        ``delta: {}`` with ``finish_reason``; then, with ``stream_options.include_usage``, a
                   ``choices: []`` chunk with ``usage``; then ``data: [DONE]``. finish_reason ERROR or
                   TIMEOUT is an error instead (the relay ends the stream with one error event, no [DONE]).
content-start/end, tool-call-end, citation-start/end, debug, unknown types: nothing
=================  =====================================================================================

Every chunk has the same ``id`` and ``created`` and carries the upstream model name. A stream that ends
before ``message-end`` raises ``UpstreamError`` from ``finish()``.

An error event, a failed ``message-end`` or garbage ends the stream with a ``GatewayError``. Frames
translated before it in the same read are still returned and the error is kept in ``error`` (the
``StreamDecoder`` convention of ``providers/base.py``): the relay writes them, then fails the stream with
it. Later ``feed()`` calls return nothing and ``finish()`` raises it.
"""
from __future__ import annotations

import time
from typing import Any


from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.cohere.errors import event_error
from bifrost_proxy.providers.cohere.response import completion_id, finish_reason, openai_usage
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame
from bifrost_proxy.sse.translate import SSETranslator, event_object


class CohereStreamDecoder(SSETranslator):
    """``feed(bytes) -> frames``; ``done`` once ``[DONE]`` is out. Upstream failures and garbage go to
    ``error`` (see the module docstring); ``finish()`` raises it, or a stream cut before ``message-end``."""

    __slots__ = ("_model", "_id", "_created", "_with_usage", "_tool_index", "_hidden", "_started")

    incomplete_message = ("the upstream closed the stream before it was complete (no message-end); "
                          "the answer is cut short")

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._model = call.model
        self._id: str | None = None
        self._created = int(time.time())
        options = call.body.get("stream_options")
        self._with_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        self._tool_index: dict[Any, int] = {}  # Cohere's tool call index -> OpenAI's (0, 1, ... in order)
        self._hidden: set[Any] = set()  # content block indexes that hold thinking, not answer text
        self._started = False

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        """Frames for whole events; a bad event ends the batch and is kept in ``error`` so the frames
        before it in the same read are still delivered."""
        frames: list[bytes] = []
        for event in events:
            if self.done:
                break  # anything after message-end (Cohere's SDKs accept a [DONE]) is not ours to relay
            mark = len(frames)
            try:
                self._translate(event, frames)
            except GatewayError as exc:
                del frames[mark:]  # never half an event
                self.error = exc
                break
        return frames

    def _translate(self, event: SSEEvent, frames: list[bytes]) -> None:
        if event.data == b"[DONE]":
            return
        obj = event_object(event)
        kind = obj.get("type") or event.event
        if event.event == "error" or (kind is None and "message" in obj):
            raise event_error(obj)
        self._event(kind, obj, frames)

    def _event(self, kind: Any, obj: dict[str, Any], frames: list[bytes]) -> None:
        message = _get(obj, "delta", "message")
        if kind == "message-start":
            if self._id is None and isinstance(obj.get("id"), str):
                self._id = completion_id(obj["id"])
            self._start(frames)
        elif kind == "content-start":
            content = _get(message, "content")
            if _get(content, "type") not in (None, "text"):
                self._hidden.add(obj.get("index"))
            else:
                self._text(_get(content, "text"), frames)
        elif kind == "content-delta":
            if obj.get("index") not in self._hidden:
                self._text(_get(message, "content", "text"), frames)
        elif kind == "tool-plan-delta":
            self._text(_get(message, "tool_plan"), frames)
        elif kind == "tool-call-start":
            self._tool_start(obj, _get(message, "tool_calls"), frames)
        elif kind == "tool-call-delta":
            fragment = _get(message, "tool_calls", "function", "arguments")
            if isinstance(fragment, str) and fragment:
                index = self._tool_index.get(obj.get("index"), len(self._tool_index) - 1)
                if index < 0:
                    raise UpstreamError("the upstream sent tool call arguments before the tool call",
                                        code="malformed_upstream_event")
                frames.append(self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        elif kind == "message-end":
            self._end(_get(obj, "delta") or {}, frames)

    def _start(self, frames: list[bytes]) -> None:
        if not self._started:
            self._started = True
            frames.append(self._chunk({"role": "assistant", "content": ""}))

    def _text(self, text: Any, frames: list[bytes]) -> None:
        if isinstance(text, str) and text:
            self._start(frames)
            frames.append(self._chunk({"content": text}))

    def _tool_start(self, obj: dict[str, Any], call: Any, frames: list[bytes]) -> None:
        if not isinstance(call, dict):
            raise UpstreamError("the upstream sent a tool call without its name", code="malformed_upstream_event")
        index = self._tool_index.setdefault(obj.get("index", len(self._tool_index)), len(self._tool_index))
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        arguments = function.get("arguments")
        self._start(frames)
        frames.append(self._chunk({"tool_calls": [{
            "index": index, "id": str(call.get("id") or ""), "type": "function",
            "function": {"name": str(function.get("name") or ""),
                         "arguments": arguments if isinstance(arguments, str) else ""},
        }]}))

    def _end(self, delta: Any, frames: list[bytes]) -> None:
        delta = delta if isinstance(delta, dict) else {}
        reason = finish_reason(delta.get("finish_reason"), delta.get("error"))  # raises for ERROR/TIMEOUT
        self._start(frames)
        frames.append(self._chunk({}, reason))
        if self._with_usage:
            frames.append(data_frame({"id": self._stream_id(), "object": "chat.completion.chunk",
                                      "created": self._created, "model": self._model, "choices": [],
                                      "usage": openai_usage(delta.get("usage"))}))
        frames.append(DONE_FRAME)
        self.done = True

    def _stream_id(self) -> str:
        if self._id is None:
            self._id = completion_id(None)
        return self._id

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self._stream_id(), "object": "chat.completion.chunk", "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._with_usage:
            chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
        return data_frame(chunk)


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj
