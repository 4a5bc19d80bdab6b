"""OpenAI chat stream frames -> Anthropic's stream events (sans-IO ``FrameTranslator``).

Anthropic's event flow (https://docs.anthropic.com/en/docs/build-with-claude/streaming): ``message_start``;
per content block ``content_block_start``, its ``content_block_delta``s, ``content_block_stop``; then
``message_delta`` (stop reason, usage) and ``message_stop``, with ``ping``s in between. Its SDKs find a
block by its ``index``, the block's position in the message, so blocks are numbered 0, 1, 2 ... in the
order they start. What each OpenAI chunk becomes:

- the first chunk: ``message_start`` (its id and model; usage only if that chunk has it, which OpenAI's never
  do: the totals come with ``message_delta``, where Anthropic's SDKs take input tokens too);
- ``delta.reasoning_content`` (or ``reasoning``): a ``thinking`` block, ``thinking_delta``s;
- ``delta.content`` (or ``refusal``): a ``text`` block, ``text_delta``s;
- a ``tool_calls`` entry with a new ``index``: a ``tool_use`` block (id, name, ``input: {}``), then
  ``input_json_delta``s of its ``arguments`` fragments;
- a change of kind closes the open block (``content_block_stop``) before the next starts; one ``ping``
  follows the first ``content_block_start``, as Anthropic sends it;
- ``finish_reason``, vLLM's ``stop_reason`` and ``usage``: remembered;
- ``[DONE]`` (``finish``): the open block's ``content_block_stop``, ``message_delta`` with the stop reason
  and the usage (``call.usage``, set by the provider's decoder even when the usage chunk was not passed
  on), ``message_stop``.

A provider that sends a fragment for a tool call other than the newest (parallel calls interleaved) gets
it as an ``input_json_delta`` of that call's block, which the SDKs accumulate by index.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.inbound.anthropic.response import anthropic_usage, message_id, reasoning_of, stop_reason
from bifrost_proxy.inbound.anthropic.tool_ids import anthropic_tool_id
from bifrost_proxy.providers.base import Call

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_DONE = b"data: [DONE]"


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class MessagesStreamTranslator:
    """One stream's translation; ``feed(frames) -> frames``, ``finish()`` once the provider said ``[DONE]``."""

    __slots__ = ("_call", "_started", "_blocks", "_open", "_tools", "_pinged", "_finish", "_matched", "_usage")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._started = False
        self._blocks = 0  # content blocks started so far; the next one's index
        self._open: tuple[str, int] | None = None  # ("text" | "thinking" | "tool", its block index)
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._pinged = False
        self._finish: Any = None
        self._matched: Any = None
        self._usage: Any = None

    def feed(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            if not frame.startswith(b"data: ") or frame.startswith(_DONE):
                continue  # [DONE] ends the message in finish()
            obj = orjson.loads(frame[6:])  # the provider's decoder checked it is JSON
            if type(obj) is not dict:
                continue
            if not self._started:
                self._start(obj, out)
            if obj.get("usage"):
                self._usage = obj["usage"]
            choices = obj.get("choices")
            if choices and type(choices[0]) is dict:
                self._choice(choices[0], out)
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._start({}, out)
        self._close(out)
        usage = anthropic_usage(self._call.usage or self._usage)
        reason, sequence = stop_reason(self._call, self._finish, self._matched, bool(self._tools))
        out.append(event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": reason, "stop_sequence": sequence},
                                           "usage": usage}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        usage = anthropic_usage(chunk.get("usage"))  # OpenAI counts at the end: message_delta has the totals
        usage["output_tokens"] = 0
        out.append(event("message_start", {"type": "message_start", "message": {
            "id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
            "model": chunk.get("model") or self._call.model, "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": usage}}))

    def _choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        delta = choice.get("delta")
        if type(delta) is dict:
            reasoning = reasoning_of(delta)
            if reasoning and isinstance(reasoning, str):
                index = self._block("thinking", out, {"type": "thinking", "thinking": "", "signature": ""})
                out.append(_delta(index, {"type": "thinking_delta", "thinking": reasoning}))
            text = delta.get("content") or delta.get("refusal")
            if text and isinstance(text, str):
                index = self._block("text", out, {"type": "text", "text": ""})
                out.append(_delta(index, {"type": "text_delta", "text": text}))
            calls = delta.get("tool_calls")
            if calls and type(calls) is list:
                for tool_call in calls:
                    if type(tool_call) is dict:
                        self._tool_call(tool_call, out)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
            self._matched = choice.get("stop_reason")

    def _tool_call(self, tool_call: dict[str, Any], out: list[bytes]) -> None:
        position = tool_call.get("index")
        position = position if type(position) is int else len(self._tools)
        function = tool_call.get("function")
        function = function if type(function) is dict else {}
        index = self._tools.get(position)
        if index is None:
            name = function.get("name")
            tool_id = anthropic_tool_id(tool_call.get("id"), tool_call.get("extra_content"))
            index = self._tools[position] = self._block(("tool", position), out, {
                "type": "tool_use", "id": tool_id, "name": name if isinstance(name, str) else "", "input": {}})
        arguments = function.get("arguments")
        if arguments and isinstance(arguments, str):
            out.append(_delta(index, {"type": "input_json_delta", "partial_json": arguments}))

    def _block(self, kind: Any, out: list[bytes], start: dict[str, Any]) -> int:
        """The index of the open block of ``kind``, starting it (and closing the one open) if need be."""
        if self._open is not None and self._open[0] == kind:
            return self._open[1]
        self._close(out)
        index = self._blocks
        self._blocks += 1
        self._open = (kind, index)
        out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                 "content_block": start}))
        if not self._pinged:
            self._pinged = True
            out.append(PING)
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self._open[1]}))
            self._open = None


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
