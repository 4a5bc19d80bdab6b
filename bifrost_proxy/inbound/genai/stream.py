"""OpenAI chat stream frames -> Gemini ``streamGenerateContent?alt=sse`` events (sans-IO).

Gemini streams ``data: {GenerateContentResponse}\\r\\n\\r\\n`` events and nothing else: no event names,
no terminal sentinel; the last event carries ``finishReason`` and ``usageMetadata``
(tests/fakes/recordings/gemini_stream_text.sse). So:
- each OpenAI chunk with text (or, when the client asked for thoughts, reasoning) becomes one event at
  once, one candidate per choice that said something;
- tool-call argument pieces are collected: Gemini sends a ``functionCall`` whole, never in pieces;
- ``[DONE]`` (the provider's stream ended complete) becomes the last event: each candidate's function
  calls, its ``finishReason`` and the usage (``call.usage``, set by the provider's decoder).
Chunks that carry nothing for the client (a role, an empty string, the usage chunk) make no event.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.inbound.genai.request import include_thoughts
from bifrost_proxy.inbound.genai.response import MALFORMED, finish_reason, function_call_part, text_of, \
    usage_metadata
from bifrost_proxy.providers.base import Call

EVENT_END = b"\r\n\r\n"  # Gemini ends each event with CRLF CRLF


def event(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + EVENT_END


class _Candidate:
    __slots__ = ("calls", "finish")

    def __init__(self) -> None:
        self.calls: dict[int, list[Any]] = {}  # tool-call index -> [id, name, [argument pieces]]
        self.finish: Any = None


class GenaiStreamTranslator:
    """``FrameTranslator`` (``inbound/base.py``) for Gemini clients."""

    __slots__ = ("_call", "_thoughts", "_candidates", "_id", "_model", "_usage", "_ended")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._thoughts = include_thoughts(call.native_body)
        self._candidates: dict[int, _Candidate] = {}
        self._id = ""
        self._model = call.model
        self._usage: Any = None
        self._ended = False

    def feed(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            payload = frame.removeprefix(b"data:").strip()
            if payload == b"[DONE]":
                out += self.finish()
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue  # the provider decoders hand over checked JSON only; nothing to say for the rest
            if isinstance(chunk, dict):
                candidates = self._chunk(chunk)
                if candidates:
                    out.append(self._event({"candidates": candidates}))
        return out

    def finish(self) -> list[bytes]:
        if self._ended:
            return []
        self._ended = True
        candidates = []
        for index, cand in sorted(self._candidates.items()) or [(0, _Candidate())]:
            parts = []
            reason = finish_reason(cand.finish)
            for call_id, name, pieces in cand.calls.values():
                part = function_call_part(call_id, name, "".join(pieces))
                if part is None:
                    reason = MALFORMED
                else:
                    parts.append(part)
            candidates.append({"content": {"parts": parts or [{"text": ""}], "role": "model"},
                               "finishReason": reason, "index": index})
        last: dict[str, Any] = {"candidates": candidates}
        usage = usage_metadata(self._call.usage or self._usage)
        if usage is not None:
            last["usageMetadata"] = usage
        return [self._event(last)]

    def _chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._id and chunk.get("id"):
            self._id = str(chunk["id"])
        if chunk.get("model"):
            self._model = str(chunk["model"])
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        candidates = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            cand = self._candidates.get(index)
            if cand is None:
                cand = self._candidates[index] = _Candidate()
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            parts: list[dict[str, Any]] = []
            reasoning = delta.get("reasoning_content")
            if self._thoughts and isinstance(reasoning, str) and reasoning:
                parts.append({"text": reasoning, "thought": True})
            text = text_of(delta.get("content")) or text_of(delta.get("refusal"))
            if text:
                parts.append({"text": text})
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    _collect(cand, call)
            if choice.get("finish_reason"):
                cand.finish = choice["finish_reason"]
            if parts:
                candidates.append({"content": {"parts": parts, "role": "model"}, "index": index})
        return candidates

    def _event(self, obj: dict[str, Any]) -> bytes:
        obj["modelVersion"] = self._model
        if self._id:
            obj["responseId"] = self._id
        return event(obj)


def _collect(cand: _Candidate, call: dict[str, Any]) -> None:
    key = call.get("index", len(cand.calls))
    slot = cand.calls.get(key)
    if slot is None:
        slot = cand.calls[key] = [None, None, []]
    if call.get("id"):
        slot[0] = call["id"]
    fn = call.get("function")
    if isinstance(fn, dict):
        if fn.get("name"):
            slot[1] = fn["name"]
        if isinstance(fn.get("arguments"), str):
            slot[2].append(fn["arguments"])
