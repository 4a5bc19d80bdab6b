"""A Gemini ``GenerateContentResponse`` -> an OpenAI ``chat.completion`` (and the pieces streams share).

https://ai.google.dev/api/generate-content#generatecontentresponse : ``candidates[].content.parts`` hold
text (``thought: true`` marks a thought summary), ``functionCall`` parts and more; ``finishReason`` and
``usageMetadata`` close the answer; ``promptFeedback.blockReason`` says the prompt itself was refused.
"""
from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call

# https://ai.google.dev/api/generate-content#FinishReason ; anything unlisted (OTHER, LANGUAGE,
# MALFORMED_FUNCTION_CALL ...) ends the answer without a better OpenAI word for it: "stop".
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def new_token() -> str:
    """The random part of a completion id; tool-call ids derive from it so one answer's ids share it."""
    return secrets.token_hex(12)


def finish_reason(reason: str, had_tool_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason, "stop")
    # Gemini says STOP after a function call; OpenAI clients look for tool_calls to run the tools
    return "tool_calls" if had_tool_calls and mapped == "stop" else mapped


def usage(meta: Any) -> dict[str, Any]:
    """``usageMetadata`` -> OpenAI ``usage``; thoughts count as completion tokens, as OpenAI's reasoning does."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(meta.get("totalTokenCount") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def check_prompt_feedback(obj: dict[str, Any]) -> None:
    """A refused prompt has no candidates: answer 400 ``content_filter``, as Azure OpenAI does for prompts."""
    if obj.get("candidates"):
        return
    feedback = obj.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason:
        raise BadRequest(f"the prompt was blocked by Gemini's safety filters (blockReason: {reason})",
                         code="content_filter")


def tool_call(part: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A ``functionCall`` part as an OpenAI tool call; a thought signature rides along in ``extra_content``."""
    fn = part["functionCall"]
    out: dict[str, Any] = {
        "id": fn.get("id") or call_id,
        "type": "function",
        "function": {"name": str(fn.get("name", "")), "arguments": orjson.dumps(fn.get("args") or {}).decode()},
    }
    if part.get("thoughtSignature"):
        out["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return out


def split_parts(parts: Any, next_call_id: Any) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """``(content, reasoning_content, tool_calls)`` of one candidate's parts; None where there is none."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part, next_call_id()))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    return ("".join(text) if text else None), ("".join(thoughts) if thoughts else None), calls


def parse_generate_response(call: Call, body: bytes) -> bytes:
    """The whole non-stream answer as OpenAI ``chat.completion`` JSON bytes."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response")
    check_prompt_feedback(obj)
    candidates = obj.get("candidates")
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, dict) for c in candidates):
        raise UpstreamError("the upstream answered without any candidate", code="malformed_upstream_response")
    token = new_token()
    counter = iter(range(1 << 30))
    choices = []
    for position, cand in enumerate(candidates):
        content = cand.get("content")
        text, thoughts, calls = split_parts(content.get("parts") if isinstance(content, dict) else None,
                                            lambda: f"call_{token}_{next(counter)}")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thoughts is not None:
            message["reasoning_content"] = thoughts
        if calls:
            message["tool_calls"] = calls
        choices.append({
            "index": cand.get("index", position),
            "message": message,
            "finish_reason": finish_reason(str(cand.get("finishReason") or "STOP"), bool(calls)),
            "logprobs": None,
        })
    call.usage = usage(obj.get("usageMetadata"))
    return orjson.dumps({
        "id": f"chatcmpl-{token}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": choices,
        "usage": call.usage,
    })
