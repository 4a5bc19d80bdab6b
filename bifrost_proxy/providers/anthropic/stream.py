"""Anthropic Messages stream -> OpenAI ``chat.completion.chunk`` events (sans-IO: ``feed``/``finish``).

Anthropic's events (https://docs.anthropic.com/en/docs/build-with-claude/streaming) and what each becomes:

- ``message_start``: the first chunk, ``delta {"role": "assistant", "content": ""}``; it names the
  message id and model that every chunk then carries, and the input usage.
- ``content_block_start`` of a ``tool_use`` block: a ``tool_calls`` delta with index, id, type, name and
  empty arguments (OpenAI's first tool-call delta); text and thinking blocks emit any starting text.
- ``content_block_delta``: ``text_delta`` -> ``content``; ``input_json_delta`` -> that tool call's
  ``function.arguments`` fragment; ``thinking_delta`` -> ``reasoning_content``; signatures and citations
  are dropped. The forced ``json_response`` tool of a ``response_format`` request streams as ``content``.
- ``message_delta``: remembered (stop reason, cumulative usage), nothing written.
- ``message_stop``: the finish chunk, the usage chunk (``choices: []``) when the client asked for
  ``stream_options.include_usage``, then ``[DONE]``.
- ``ping``, ``content_block_stop`` and event types Anthropic may add later: nothing.
- ``error``: raised as a ``GatewayError`` (see ``errors.py``); so is garbage, and a stream that ends
  before ``message_stop``. Frames translated before a bad event in the same read are returned first;
  the error is raised by the next ``feed`` or ``finish``.

Usage, in OpenAI's shape, is kept in ``call.usage`` for the access log and metrics on every stream.
"""
from __future__ import annotations

import time
from typing import Any


from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.anthropic.errors import error_from_event
from bifrost_proxy.providers.anthropic.request import JSON_TOOL
from bifrost_proxy.providers.anthropic.response import finish_reason, json_mode, openai_usage
from bifrost_proxy.providers.base import Call
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame
from bifrost_proxy.sse.translate import SSETranslator, event_object

_JSON_BLOCK = -1  # block index map value: the json_response tool, streamed as content


class AnthropicStreamDecoder(SSETranslator):
    """Translates one Anthropic stream; ``feed(bytes) -> frames``, ``finish()`` at upstream EOF."""

    __slots__ = ("_call", "_json", "_include_usage", "_id", "_model", "_created", "_usage", "_stop_reason",
                 "_tool_index", "_tools", "_started")

    incomplete_message = "the upstream closed the stream before message_stop; the answer is cut short"

    def __init__(self, call: Call, created: int | None = None) -> None:
        super().__init__()
        self._call = call
        self._json = json_mode(call)
        options = call.body.get("stream_options")
        self._include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self._id: str | None = None
        self._model = call.model
        self._created = int(time.time()) if created is None else created
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._tool_index: dict[int, int] = {}  # Anthropic content block index -> OpenAI tool call index
        self._tools = 0
        self._started = False

    def feed(self, data: bytes) -> list[bytes]:
        # unlike the base, a held error is raised here: by the next feed, or by this one if it made no frames
        if self.error is not None:
            raise self.error
        frames = super().feed(data)
        if self.error is not None and not frames:
            raise self.error
        return frames

    def _tail_error(self, error: GatewayError) -> GatewayError:
        # garbage left unterminated at EOF is an event cut short, not one the upstream got wrong
        return self._incomplete() if error.code == "malformed_upstream_event" else error

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        frames: list[bytes] = []
        try:
            for event in events:
                if self.done:
                    break
                self._translate(event, frames)
        except GatewayError as exc:
            self.error = exc  # raised once the frames before it are out
        return frames

    def _translate(self, event: SSEEvent, frames: list[bytes]) -> None:
        obj = event_object(event)
        kind = obj.get("type") or event.event
        if kind == "error":
            raise error_from_event(obj)
        if kind == "message_start":
            self._start(obj.get("message"), frames)
        elif kind in ("content_block_start", "content_block_delta", "message_delta", "message_stop"):
            if not self._started:
                raise UpstreamError(f"the upstream sent {kind} before message_start",
                                    code="malformed_upstream_event")
            getattr(self, "_" + kind)(obj, frames)

    def _start(self, message: Any, frames: list[bytes]) -> None:
        if self._started:
            return
        message = message if isinstance(message, dict) else {}
        self._started = True
        self._id = message.get("id")
        self._model = message.get("model") or self._model
        self._merge_usage(message.get("usage"))
        frames.append(self._chunk({"role": "assistant", "content": ""}))

    def _content_block_start(self, obj: dict[str, Any], frames: list[bytes]) -> None:
        block = obj.get("content_block")
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and block.get("text"):
            frames.append(self._chunk({"content": block["text"]}))
        elif kind == "thinking" and block.get("thinking"):
            frames.append(self._chunk({"reasoning_content": block["thinking"]}))
        elif kind == "tool_use":
            if self._json and block.get("name") == JSON_TOOL:
                self._tool_index[obj.get("index")] = _JSON_BLOCK
                return
            index = self._tool_index[obj.get("index")] = self._tools
            self._tools += 1
            frames.append(self._chunk({"tool_calls": [{
                "index": index, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""}}]}))

    def _content_block_delta(self, obj: dict[str, Any], frames: list[bytes]) -> None:
        delta = obj.get("delta")
        kind = delta.get("type") if isinstance(delta, dict) else None
        if kind == "text_delta":
            if delta.get("text"):
                frames.append(self._chunk({"content": delta["text"]}))
        elif kind == "input_json_delta":
            index = self._tool_index.get(obj.get("index"))
            partial = delta.get("partial_json")
            if index is None or not partial:
                return  # a server tool's input, or Anthropic's customary empty first fragment
            if index == _JSON_BLOCK:
                frames.append(self._chunk({"content": partial}))
            else:
                frames.append(self._chunk({"tool_calls": [{"index": index, "function": {"arguments": partial}}]}))
        elif kind == "thinking_delta":
            if delta.get("thinking"):
                frames.append(self._chunk({"reasoning_content": delta["thinking"]}))

    def _message_delta(self, obj: dict[str, Any], frames: list[bytes]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        self._merge_usage(obj.get("usage"))

    def _message_stop(self, obj: dict[str, Any], frames: list[bytes]) -> None:
        frames.append(self._chunk({}, finish_reason(self._stop_reason, self._json)))
        if self._include_usage:
            frames.append(data_frame({"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                                      "model": self._model, "choices": [], "usage": self.usage}))
        frames.append(DONE_FRAME)
        self.done = True

    @property
    def usage(self) -> dict[str, Any]:
        """The OpenAI-shaped usage seen so far (complete once ``done``)."""
        return openai_usage(self._usage)

    def _merge_usage(self, usage: Any) -> None:
        # message_delta counts are cumulative: the latest value of each field is the total
        if isinstance(usage, dict):
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
            self._call.usage = openai_usage(self._usage)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_frame({"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                           "model": self._model,
                           "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})
