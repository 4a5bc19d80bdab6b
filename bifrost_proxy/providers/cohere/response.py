"""Cohere v2 chat answer -> OpenAI ``chat.completion`` (https://docs.cohere.com/reference/chat#response).

Helpers shared with ``stream.py``: the finish reason map, usage, and the id we give a completion.
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.cohere.errors import failed_generation

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
FAILED = ("ERROR", "TIMEOUT")  # raised as errors (errors.failed_generation), never relayed as a finish


def completion_id(cohere_id: Any) -> str:
    """OpenAI-style id built from Cohere's generation id, so a client's id leads back to Cohere's logs."""
    return f"chatcmpl-{cohere_id}" if isinstance(cohere_id, str) and cohere_id else f"chatcmpl-{time.time_ns():x}"


def finish_reason(reason: Any, error: Any = None) -> str:
    """OpenAI's finish reason for Cohere's; raises for ERROR and TIMEOUT (see ``errors.py``)."""
    if reason in FAILED:
        raise failed_generation(reason, error)
    return FINISH_REASONS.get(reason, "stop") if reason is not None else "stop"


def openai_usage(usage: Any) -> dict[str, Any]:
    """OpenAI ``usage`` from Cohere's: billed units when Cohere reports them (what the key is charged),
    else the raw token counts; Cohere sends whole numbers, sometimes written as floats (``18.0``)."""
    usage = usage if isinstance(usage, dict) else {}
    billed, tokens = usage.get("billed_units"), usage.get("tokens")
    source = billed if isinstance(billed, dict) and ("input_tokens" in billed or "output_tokens" in billed) \
        else tokens if isinstance(tokens, dict) else {}
    prompt, completion = _count(source.get("input_tokens")), _count(source.get("output_tokens"))
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    cached = usage.get("cached_tokens")
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": _count(cached)}
    return out


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def parse_chat_response(call: Call, body: bytes) -> bytes:
    """The OpenAI ``chat.completion`` for a Cohere ``/v2/chat`` answer; raises on garbage or a failed
    generation (finish_reason ERROR/TIMEOUT)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response") \
            from None
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), dict):
        raise UpstreamError("the upstream answered without a message", code="malformed_upstream_response")
    message = obj["message"]
    reason = finish_reason(obj.get("finish_reason"), obj.get("error"))
    text = "".join(part.get("text") or "" for part in message.get("content") or ()
                   if isinstance(part, dict) and part.get("type", "text") == "text")
    calls = [_tool_call(c) for c in message.get("tool_calls") or () if isinstance(c, dict)]
    plan = message.get("tool_plan")
    if not text and calls and isinstance(plan, str) and plan:
        text = plan  # the text Cohere writes before its tool calls (request.py maps it back)
    out_message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        out_message["tool_calls"] = calls
    answer = {
        "id": completion_id(obj.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [{"index": 0, "message": out_message, "logprobs": None, "finish_reason": reason}],
        "usage": openai_usage(obj.get("usage")),
    }
    return orjson.dumps(answer)


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    arguments = function.get("arguments")
    return {"id": str(call.get("id") or ""), "type": "function",
            "function": {"name": str(function.get("name") or ""),
                         "arguments": arguments if isinstance(arguments, str) else "{}"}}

