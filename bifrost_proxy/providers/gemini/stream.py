"""``streamGenerateContent?alt=sse`` -> OpenAI ``chat.completion.chunk`` events.

Each upstream event is a whole ``GenerateContentResponse`` holding the next piece of each candidate:
text and thought parts arrive as pieces, a ``functionCall`` arrives whole (so it becomes one tool-call
delta with id, name and all its arguments). Gemini streams have no terminal event, and older models
repeat ``finishReason`` on every event, so the finish chunk(s), the usage chunk and ``[DONE]`` are
written when the upstream closes cleanly: then every candidate must have said why it finished, or the
stream was cut short and ``finish()`` raises.

An error event, a blocked prompt or garbage ends the stream with a ``GatewayError``. Frames translated
before it in the same read are still returned and the error is kept in ``error`` (the ``StreamDecoder``
convention of ``providers/base.py``): the relay writes them, then fails the stream with it. Later
``feed()`` calls return nothing and ``finish()`` raises it.
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.gemini.errors import google_error
from bifrost_proxy.providers.gemini.response import check_prompt_feedback, finish_reason, new_token, split_parts, usage
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.encode import DONE_FRAME, data_frame
from bifrost_proxy.sse.translate import SSETranslator


class _Choice:
    __slots__ = ("started", "tool_calls", "finish")

    def __init__(self) -> None:
        self.started = False  # the first delta of a choice carries role: assistant
        self.tool_calls = 0
        self.finish: str | None = None


class GeminiStreamDecoder(SSETranslator):
    """Sans-IO: ``feed(bytes)`` and ``finish()`` return whole SSE frames for the client.

    ``token`` and ``created`` fix the completion id and timestamp (tests replay a recording with them).
    ``error`` holds the failure that ended the stream, once one did (see the module docstring).
    """

    __slots__ = ("_call", "_model", "_id", "_token", "_created", "_choices", "_usage", "_include_usage", "_calls")

    incomplete_message = ("the upstream closed the stream before the answer finished (no finishReason); "
                          "the answer is cut short")

    def __init__(self, call: Call, *, token: str | None = None, created: int | None = None) -> None:
        super().__init__()
        self._call = call
        self._model = call.model
        self._token = token or new_token()
        self._id = f"chatcmpl-{self._token}"
        self._created = int(time.time()) if created is None else created
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        options = call.body.get("stream_options")
        self._include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self._calls = 0

    def _finish_frames(self) -> list[bytes]:
        # no terminal event upstream: a clean close ends the stream once every candidate has finished
        if not self._choices or any(c.finish is None for c in self._choices.values()):
            raise self._incomplete()
        frames = [self._chunk(index, choice, {}, choice.finish) for index, choice in sorted(self._choices.items())]
        if self._include_usage:
            frames.append(data_frame({"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                                      "model": self._model, "choices": [], "usage": usage(self._usage)}))
        frames.append(DONE_FRAME)
        self.done = True
        return frames

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        """Frames for whole events; a bad event ends the batch and is kept in ``error`` so the frames
        before it in the same read are still delivered."""
        frames: list[bytes] = []
        for event in events:
            try:
                frames.extend(self._event(event))
            except GatewayError as exc:
                self.error = exc
                break
        return frames

    def _event(self, event: SSEEvent) -> list[bytes]:
        if not event.data.strip():
            return []
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            obj = None
        error = google_error(obj)
        if error is not None:
            raise error
        if not isinstance(obj, dict):
            raise UpstreamError("the upstream sent a malformed stream event (not a JSON object)",
                                code="malformed_upstream_event")
        check_prompt_feedback(obj)
        if obj.get("usageMetadata") is not None:
            self._usage = obj["usageMetadata"]  # cumulative: the last one counts
            self._call.usage = usage(self._usage)
        frames = []
        for position, cand in enumerate(obj.get("candidates") or ()):
            if not isinstance(cand, dict):
                continue
            index = cand.get("index", position)
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice()
            content = cand.get("content")
            text, thoughts, calls = split_parts(content.get("parts") if isinstance(content, dict) else None,
                                                self._next_call_id)
            delta: dict[str, Any] = {}
            if thoughts is not None:
                delta["reasoning_content"] = thoughts
            if text:
                delta["content"] = text
            if calls:
                delta["tool_calls"] = [{"index": choice.tool_calls + k, **c} for k, c in enumerate(calls)]
                choice.tool_calls += len(calls)
            if cand.get("finishReason"):
                choice.finish = finish_reason(str(cand["finishReason"]), choice.tool_calls > 0)
            if delta:
                frames.append(self._chunk(index, choice, delta, None))
        return frames

    def _next_call_id(self) -> str:
        self._calls += 1
        return f"call_{self._token}_{self._calls - 1}"

    def _chunk(self, index: int, choice: _Choice, delta: dict[str, Any], finish: str | None) -> bytes:
        if not choice.started:
            choice.started = True
            delta = {"role": "assistant", **delta}
        return data_frame({
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
        })
