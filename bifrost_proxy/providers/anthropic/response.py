"""Anthropic Message -> OpenAI ``chat.completion`` (non-stream), and the pieces the stream shares.

Text blocks are joined into ``message.content``; ``tool_use`` blocks become ``tool_calls`` (input as a
JSON string); ``thinking`` blocks go to ``message.reasoning_content``; the forced ``json_response`` tool
of a ``response_format`` request becomes the content. Other blocks (redacted thinking, server tools)
carry nothing an OpenAI client can use and are left out.
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.anthropic.request import JSON_TOOL
from bifrost_proxy.providers.base import Call

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def json_mode(call: Call) -> bool:
    """Whether the request asked for a JSON answer, which travels as the forced ``json_response`` tool."""
    fmt = call.body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def finish_reason(stop_reason: Any, json_answer: bool = False) -> str:
    if json_answer and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason, "stop") if stop_reason is not None else "stop"


def openai_usage(usage: Any) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage. Anthropic counts cached input apart; OpenAI's prompt includes it."""
    usage = usage if isinstance(usage, dict) else {}
    cache_read = _int(usage.get("cache_read_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cache_read + _int(usage.get("cache_creation_input_tokens"))
    completion = _int(usage.get("output_tokens"))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cache_read}}


def parse_message(call: Call, obj: Any, created: int | None = None) -> dict[str, Any]:
    """An Anthropic Message object as an OpenAI ``chat.completion`` dict."""
    if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
        raise UpstreamError("the upstream answered something that is not an Anthropic message",
                            code="malformed_upstream_response")
    json_answer = json_mode(call)
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in obj["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            if json_answer and block.get("name") == JSON_TOOL:
                texts.append(arguments)
                continue
            tool_calls.append({"id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"), "arguments": arguments}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    return {
        "id": obj.get("id"),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": obj.get("model") or call.model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(obj.get("stop_reason"), json_answer)}],
        "usage": openai_usage(obj.get("usage")),
    }


def _int(value: Any) -> int:
    return value if type(value) is int else 0
