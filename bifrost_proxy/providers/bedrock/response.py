"""Bedrock Converse answer -> OpenAI ``chat.completion``; the stop-reason and usage mappings streams share.

https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.bedrock.errors import header

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def openai_usage(usage: Any) -> dict[str, Any] | None:
    """Bedrock's ``inputTokens`` leave out prompt-cache reads and writes; OpenAI's ``prompt_tokens`` count
    them, with the reads repeated as ``prompt_tokens_details.cached_tokens``."""
    if not isinstance(usage, dict):
        return None
    cached = _count(usage.get("cacheReadInputTokens"))
    prompt = _count(usage.get("inputTokens")) + cached + _count(usage.get("cacheWriteInputTokens"))
    completion = _count(usage.get("outputTokens"))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def _count(value: Any) -> int:
    return value if type(value) is int else 0


def completion_id(headers: Mapping[str, str] | None = None) -> str:
    request_id = header(headers, "x-amzn-RequestId") if headers is not None else None
    return "chatcmpl-" + (request_id or uuid.uuid4().hex)


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("Bedrock answered with malformed JSON", code="malformed_upstream_response") from None


def chat_completion(call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
    obj = load_json(body)
    output = obj.get("output") if isinstance(obj, dict) else None
    message = output.get("message") if isinstance(output, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise UpstreamError("Bedrock answered without output.message.content", code="malformed_upstream_response")
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):  # a block is a union: exactly one member is set
            use = block["toolUse"]
            tool_calls.append({"id": use.get("toolUseId"), "type": "function",
                               "function": {"name": use.get("name"),
                                            "arguments": orjson.dumps(use.get("input", {})).decode()}})
        elif isinstance(block.get("reasoningContent"), dict):
            reasoning_text = block["reasoningContent"].get("reasoningText")
            if isinstance(reasoning_text, dict) and isinstance(reasoning_text.get("text"), str):
                reasoning.append(reasoning_text["text"])
    out_message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        out_message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    answer: dict[str, Any] = {
        "id": completion_id(headers),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [{"index": 0, "message": out_message, "finish_reason": finish_reason(obj.get("stopReason")),
                     "logprobs": None}],
    }
    usage = openai_usage(obj.get("usage"))
    if usage is not None:
        answer["usage"] = call.usage = usage
    return orjson.dumps(answer)
