"""ConverseStream (binary event stream) -> OpenAI ``chat.completion.chunk`` SSE events.

Events, in order (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html):
messageStart, then per content block contentBlockStart (tool use only) / contentBlockDelta* /
contentBlockStop, then messageStop (the stop reason), then metadata (usage). Each event is one frame whose
``:event-type`` header names it and whose JSON payload is the member itself (plus a ``p`` padding field).

``[DONE]`` follows metadata; if the upstream closes after messageStop without metadata, ``finish()`` still
ends the stream complete. A close before messageStop is a cut-short answer and an error.
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE, Call
from bifrost_proxy.providers.bedrock.errors import stream_error, stream_exception
from bifrost_proxy.providers.bedrock.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamTruncated,
    Message,
)
from bifrost_proxy.providers.bedrock.response import completion_id, finish_reason, openai_usage
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame


class ConverseStreamDecoder:
    """Feeds on the upstream's event-stream bytes; returns whole SSE frames for the client.

    An upstream failure read in the same chunk as good events is kept in ``error`` while those events are
    returned: the relay writes them, then raises it (the ``StreamDecoder`` convention of ``sse/relay.py``).
    """

    __slots__ = ("media_type", "done", "error", "_call", "_frames", "_id", "_created", "_include_usage", "_tools",
                 "_stopped")

    def __init__(self, call: Call) -> None:
        self.media_type = SSE_MEDIA_TYPE
        self.done = False
        self.error: GatewayError | None = None
        self._call = call
        self._frames = EventStreamDecoder()
        self._id = completion_id(call.upstream_headers)
        self._created = int(time.time())
        options = call.body.get("stream_options")
        self._include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool_calls index
        self._stopped = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.done or self.error is not None:
            return []
        try:
            messages = self._frames.feed(data)
        except EventStreamError as exc:
            raise _malformed(exc) from None
        out: list[bytes] = []
        for message in messages:
            try:
                out.extend(self._translate(message))
            except GatewayError as exc:
                if not out:
                    raise
                self.error = exc
                return out
            if self.done:
                return out
        if self._frames.error is not None:
            if not out:
                raise _malformed(self._frames.error)
            self.error = _malformed(self._frames.error)
        return out

    def finish(self) -> list[bytes]:
        if self.error is not None:
            raise self.error
        if self.done:
            return []
        try:
            self._frames.finish()
        except EventStreamTruncated as exc:
            raise UpstreamError(f"Bedrock's stream was cut short: {exc}", code="stream_incomplete") from None
        except EventStreamError as exc:
            raise _malformed(exc) from None
        if not self._stopped:
            raise UpstreamError("Bedrock closed the stream before the message was complete (no messageStop); "
                                "the answer is cut short", code="stream_incomplete")
        self.done = True  # metadata (usage) never came, but the message itself is whole
        return [DONE_FRAME]

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._call.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI: every chunk but the last carries a null usage
        return data_frame(chunk)

    def _translate(self, message: Message) -> list[bytes]:
        headers = message.headers
        kind = headers.get(":message-type", "event")
        if kind == "exception":
            raise stream_exception(str(headers.get(":exception-type") or ""), message.payload)
        if kind == "error":
            raise stream_error(str(headers.get(":error-code") or ""), str(headers.get(":error-message") or ""))
        event = headers.get(":event-type")
        try:
            payload = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError:
            raise UpstreamError("Bedrock sent a stream event that is not JSON", code="malformed_upstream_event") \
                from None
        if not isinstance(payload, dict):
            raise UpstreamError("Bedrock sent a stream event that is not a JSON object",
                                code="malformed_upstream_event")
        if event == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if event == "contentBlockStart":
            return self._block_start(payload)
        if event == "contentBlockDelta":
            return self._block_delta(payload)
        if event == "messageStop":
            self._stopped = True
            return [self._chunk({}, finish_reason(payload.get("stopReason")))]
        if event == "metadata":
            return self._metadata(payload)
        return []  # contentBlockStop, and event types newer than this code: nothing to tell the client

    def _tool_index(self, payload: dict[str, Any]) -> int:
        block = payload.get("contentBlockIndex")
        return self._tools.setdefault(block if type(block) is int else 0, len(self._tools))

    def _block_start(self, payload: dict[str, Any]) -> list[bytes]:
        start = payload.get("start")
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict):
            return []
        index = self._tool_index(payload)
        return [self._chunk({"tool_calls": [{"index": index, "id": use.get("toolUseId"), "type": "function",
                                             "function": {"name": use.get("name"), "arguments": ""}}]})]

    def _block_delta(self, payload: dict[str, Any]) -> list[bytes]:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return []
        if isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})]
        if isinstance(delta.get("toolUse"), dict):
            index = self._tool_index(payload)
            fragment = delta["toolUse"].get("input")
            fragment = fragment if isinstance(fragment, str) else ""
            return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str):
            return [self._chunk({"reasoning_content": reasoning["text"]})]
        return []  # reasoning signatures, redacted reasoning, citations: no OpenAI field carries them

    def _metadata(self, payload: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        usage = openai_usage(payload.get("usage"))
        if usage is not None:
            self._call.usage = usage
            if self._include_usage:
                frames.append(data_frame({"id": self._id, "object": "chat.completion.chunk",
                                          "created": self._created, "model": self._call.model, "choices": [],
                                          "usage": usage}))
        frames.append(DONE_FRAME)
        self.done = True
        return frames


def _malformed(exc: EventStreamError) -> UpstreamError:
    return UpstreamError(f"Bedrock sent a malformed event-stream frame: {exc}", code="malformed_upstream_event")
