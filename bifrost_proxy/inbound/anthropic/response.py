"""OpenAI chat completion -> Anthropic Message (non-stream), and the pieces the stream shares.

Content blocks, in Anthropic's order: the provider's reasoning (``reasoning_content``, or ``reasoning`` as
vLLM and OpenRouter name it) as a ``thinking`` block (with an empty ``signature``: there is none to give),
the text as a ``text`` block, each tool call as a ``tool_use`` block (arguments parsed into ``input``).

A tool call's id is kept as the ``tool_use`` id (a thought signature rides along: ``tool_ids.py``).

``stop_reason`` from ``finish_reason``: stop -> ``end_turn``, length -> ``max_tokens``, tool_calls ->
``tool_use``, content_filter -> ``refusal``. OpenAI does not say which stop sequence ended an answer; a
provider that does (vLLM's ``stop_reason``, when it is one of the request's ``stop_sequences``) gets
``stop_sequence`` and the matched ``stop_sequence``. An answer with tool calls is ``tool_use`` whatever
the provider called it (some say "stop"), since that is what tells a client to run them.

Usage: Anthropic counts cached input apart from ``input_tokens``; OpenAI's ``prompt_tokens`` include it.
"""
from __future__ import annotations

import uuid
from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.inbound.anthropic.tool_ids import anthropic_tool_id
from bifrost_proxy.providers.base import Call

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(call: Call, finish_reason: Any, matched: Any, used_tools: bool) -> tuple[str, str | None]:
    """``(stop_reason, stop_sequence)`` for an OpenAI ``finish_reason`` (and vLLM's ``stop_reason``)."""
    reason = STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    if used_tools and reason == "end_turn":
        return "tool_use", None
    if reason == "end_turn" and isinstance(matched, str):
        stop = call.body.get("stop")
        if isinstance(stop, list) and matched in stop:
            return "stop_sequence", matched
    return reason, None


def anthropic_usage(usage: Any) -> dict[str, int]:
    """OpenAI usage -> Anthropic usage (cached input counted apart, as Anthropic does)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return {"input_tokens": max(prompt - cached, 0), "output_tokens": completion,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}


def message_id(value: Any) -> str:
    return value if isinstance(value, str) and value else "msg_" + uuid.uuid4().hex


def reasoning_of(delta: dict[str, Any]) -> Any:
    """A message's or delta's reasoning text, under either name OpenAI-compatible servers use."""
    reasoning = delta.get("reasoning_content")
    return reasoning if reasoning else delta.get("reasoning")


def to_message(call: Call, body: bytes) -> bytes:
    """A non-stream OpenAI chat completion (JSON bytes) as an Anthropic Message (JSON bytes)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    choices = obj.get("choices") if isinstance(obj, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    message = choice.get("message") if choice is not None else None
    if not isinstance(message, dict):
        raise UpstreamError("the upstream answered something that is not a chat completion",
                            code="malformed_upstream_response")
    content: list[dict[str, Any]] = []
    reasoning = reasoning_of(message)
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content") or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for tool_call in calls if isinstance(calls, list) else ():
        content.append(_tool_use(tool_call))
    reason, sequence = stop_reason(call, choice.get("finish_reason"), choice.get("stop_reason"),
                                   any(block["type"] == "tool_use" for block in content))
    return orjson.dumps({
        "id": message_id(obj.get("id")),
        "type": "message",
        "role": "assistant",
        "model": obj.get("model") or call.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(obj.get("usage") or call.usage),
    })


def _tool_use(tool_call: Any) -> dict[str, Any]:
    function = tool_call.get("function") if isinstance(tool_call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UpstreamError("the upstream answered a tool call without a function name",
                            code="malformed_upstream_response")
    arguments = function.get("arguments")
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        # Anthropic's tool input is always an object; an answer that cannot be one is the model's mistake
        raise UpstreamError(f"the upstream answered a call of tool {function['name'][:100]!r} whose arguments "
                            "are not a JSON object", code="malformed_upstream_response")
    return {"type": "tool_use", "id": anthropic_tool_id(tool_call.get("id"), tool_call.get("extra_content")),
            "name": function["name"], "input": value}


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0
