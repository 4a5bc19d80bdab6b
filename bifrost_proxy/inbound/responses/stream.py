"""OpenAI chat stream frames -> the Responses event sequence (sans-IO; a ``FrameTranslator``).

The events and their order are OpenAI's (https://platform.openai.com/docs/api-reference/responses-streaming,
recorded in tests/fakes/recordings/openai_responses_*.sse):

    response.created, response.in_progress                       on the first chunk
    response.output_item.added, response.content_part.added      when text (or reasoning, or a refusal) starts
    response.output_text.delta ...                               (reasoning_text / refusal .delta)
    response.output_text.done, response.content_part.done, response.output_item.done
    response.output_item.added (function_call)                   when a tool call starts
    response.function_call_arguments.delta ... .done, response.output_item.done
    response.completed (or response.incomplete)                  after the chat stream's [DONE], with usage

Every event carries ``sequence_number``, rising by one from 0. Items are opened in the order the chat deltas
start them and each is closed before the next opens, as OpenAI streams them. A failure after the stream
started is one ``response.failed`` with this stream's response id (``error_frame``).
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.inbound.responses.events import event_frame, failed_frame
from bifrost_proxy.inbound.responses.response import INCOMPLETE_REASONS, function_call_item, item_id, \
    message_item, new_response_id, reasoning_item, response_object, responses_usage, text_part
from bifrost_proxy.providers.base import Call

# content part kind -> (item type, id prefix, delta event, done event, the done event's text field)
PARTS = {
    "output_text": ("message", "msg", "response.output_text.delta", "response.output_text.done", "text"),
    "refusal": ("message", "msg", "response.refusal.delta", "response.refusal.done", "refusal"),
    "reasoning_text": ("reasoning", "rs", "response.reasoning_text.delta", "response.reasoning_text.done", "text"),
}
# chat delta field -> content part kind, in the order a model produces them
DELTA_FIELDS = (("reasoning_content", "reasoning_text"), ("content", "output_text"), ("refusal", "refusal"))


class _Item:
    """The output item being streamed: a text part of a message or reasoning item, or a function call."""

    __slots__ = ("index", "id", "kind", "pieces", "call_id", "name")

    def __init__(self, index: int, item: str, kind: str, call_id: str = "", name: str = "") -> None:
        self.index = index
        self.id = item
        self.kind = kind  # a PARTS key, or "function_call"
        self.pieces: list[str] = []
        self.call_id = call_id
        self.name = name

    def as_output(self, status: str) -> dict[str, Any]:
        text = "".join(self.pieces)
        if self.kind == "function_call":
            return function_call_item(self.id, self.call_id, self.name, text, status)
        parts = [text_part(self.kind, text)]
        build = reasoning_item if self.kind == "reasoning_text" else message_item
        return build(self.id, parts, status)


class ResponsesStreamTranslator:
    """One stream's translation: chat chunk frames in, Responses event frames out (see the module docstring)."""

    __slots__ = ("_call", "_native", "_id", "_created", "_model", "_seq", "_output", "_open", "_tools",
                 "_finish", "_started")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._native = call.native_body or {}
        self._id = new_response_id()
        self._created = int(time.time())
        self._model = call.model
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # finished items, by output index
        self._open: _Item | None = None
        self._tools: dict[int, int] = {}  # chat tool call index -> its output index
        self._finish: str | None = None
        self._started = False

    def feed(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            payload = frame[6:].strip() if frame.startswith(b"data: ") else b""
            if not payload or payload == b"[DONE]":
                continue
            chunk = orjson.loads(payload)  # the provider decoder made or checked this JSON
            if type(chunk) is not dict:
                raise UpstreamError("the upstream sent a stream chunk that is not an object",
                                    code="malformed_upstream_event")
            if not self._started:
                self._start(chunk, out)
            usage = chunk.get("usage")
            if isinstance(usage, dict) and usage:
                self._call.usage = usage  # the usage chunk; most provider decoders have kept it already
            choices = chunk.get("choices")
            if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
                continue
            choice = choices[0]
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = {}
            for field, kind in DELTA_FIELDS:
                text = delta.get(field)
                if isinstance(text, str) and text:
                    self._text(kind, text, out)
            for tool_call in delta.get("tool_calls") or ():
                self._tool_call(tool_call, out)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                self._finish = finish
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._start({}, out)
        reason = INCOMPLETE_REASONS.get(self._finish or "")
        status = "incomplete" if reason else "completed"
        self._close(out, status)
        response = response_object(self._native, self._id, self._created, self._model, status, self._output,
                                   responses_usage(self._call.usage), reason)
        self._emit(out, "response.incomplete" if reason else "response.completed", {"response": response})
        return out

    def error_frame(self, error: GatewayError) -> bytes:
        """``response.failed`` for this stream, with the items streamed so far (an open one as incomplete)."""
        out: list[bytes] = []
        if not self._started:
            self._start({}, out)
        output = self._output + ([self._open.as_output("incomplete")] if self._open is not None else [])
        response = response_object(self._native, self._id, self._created, self._model, "in_progress", output,
                                   responses_usage(self._call.usage))
        out.append(failed_frame(self._seq, response, error))
        self._seq += 1
        return b"".join(out)

    # events
    def _emit(self, out: list[bytes], kind: str, fields: dict[str, Any]) -> None:
        out.append(event_frame({"type": kind, "sequence_number": self._seq, **fields}))
        self._seq += 1

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]  # the upstream's own name for the model, as chat chunks carry it
        if type(chunk.get("created")) is int:
            self._created = chunk["created"]  # as a non-stream answer takes the completion's
        response = response_object(self._native, self._id, self._created, self._model, "in_progress", [])
        self._emit(out, "response.created", {"response": response})
        self._emit(out, "response.in_progress", {"response": response})

    def _add(self, out: list[bytes], item: _Item) -> None:
        self._open = item
        self._emit(out, "response.output_item.added", {"output_index": item.index,
                                                       "item": item.as_output("in_progress")})

    def _text(self, kind: str, text: str, out: list[bytes]) -> None:
        item = self._open
        if item is None or item.kind != kind:
            self._close(out)
            _, prefix, _, _, _ = PARTS[kind]
            index = len(self._output)
            item = _Item(index, item_id(prefix, self._id, index), kind)
            self._add(out, item)
            self._emit(out, "response.content_part.added", {"item_id": item.id, "output_index": index,
                                                            "content_index": 0, "part": text_part(kind, "")})
        item.pieces.append(text)
        fields: dict[str, Any] = {"item_id": item.id, "output_index": item.index, "content_index": 0,
                                  "delta": text}
        if kind == "output_text":
            fields["logprobs"] = []
        self._emit(out, PARTS[kind][2], fields)

    def _tool_call(self, tool_call: Any, out: list[bytes]) -> None:
        if not isinstance(tool_call, dict):
            return
        index = tool_call.get("index", 0)
        if type(index) is not int:
            index = 0
        function = tool_call.get("function") or {}
        output_index = self._tools.get(index)
        item = self._open
        if output_index is None:
            self._close(out)
            output_index = self._tools[index] = len(self._output)
            item = _Item(output_index, item_id("fc", self._id, output_index), "function_call",
                         str(tool_call.get("id") or item_id("call", self._id, output_index)),
                         str(function.get("name") or ""))
            self._add(out, item)
        elif item is None or item.index != output_index:
            raise UpstreamError("the upstream went back to a tool call it had finished",
                                code="malformed_upstream_event")
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.pieces.append(arguments)
            self._emit(out, "response.function_call_arguments.delta",
                       {"item_id": item.id, "output_index": item.index, "delta": arguments})

    def _close(self, out: list[bytes], status: str = "completed") -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        text = "".join(item.pieces)
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "function_call":
            self._emit(out, "response.function_call_arguments.done", {**where, "name": item.name, "arguments": text})
        else:
            _, _, _, done, field = PARTS[item.kind]
            fields: dict[str, Any] = {**where, "content_index": 0, field: text}
            if item.kind == "output_text":
                fields["logprobs"] = []
            self._emit(out, done, fields)
            self._emit(out, "response.content_part.done", {**where, "content_index": 0,
                                                           "part": text_part(item.kind, text)})
        finished = item.as_output(status)
        self._output.append(finished)
        self._emit(out, "response.output_item.done", {"output_index": item.index, "item": finished})
