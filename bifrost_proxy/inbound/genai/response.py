"""An OpenAI ``chat.completion`` -> a Gemini ``GenerateContentResponse`` (and the pieces streams share).

https://ai.google.dev/api/generate-content#generatecontentresponse : each choice becomes a candidate
with ``content.parts`` (a thought part first when the client asked for thoughts, then the text, then
one ``functionCall`` part per tool call, its ``id`` kept so the client can answer it by id),
``finishReason`` and ``index``; ``usage`` becomes ``usageMetadata``; the completion's id and model become
``responseId`` and ``modelVersion``. Tool-call arguments that are not a JSON object cannot be a
``functionCall``: the call is left out and the candidate ends with ``MALFORMED_FUNCTION_CALL``, as
Gemini ends one whose call it could not form.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError

# https://ai.google.dev/api/generate-content#FinishReason
FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "function_call": "STOP",
                  "content_filter": "SAFETY"}
MALFORMED = "MALFORMED_FUNCTION_CALL"


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(reason, "STOP" if reason is None else "OTHER")


def function_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any] | None:
    """A ``functionCall`` part, or None when ``arguments`` is not a JSON object."""
    try:
        args = orjson.loads(arguments) if arguments else {}
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not isinstance(args, dict):
        return None
    call: dict[str, Any] = {"name": str(name or ""), "args": args}
    if call_id:
        call["id"] = str(call_id)
    return {"functionCall": call}


def usage_metadata(usage: Any) -> dict[str, Any] | None:
    """OpenAI ``usage`` -> ``usageMetadata``: reasoning tokens are Gemini's thoughts, outside candidates."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    thoughts = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    cached = usage.get("prompt_tokens_details")
    cached = _count(cached.get("cached_tokens")) if isinstance(cached, dict) else 0
    meta: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": max(0, completion - thoughts),
                            "totalTokenCount": _count(usage.get("total_tokens")) or prompt + completion}
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def text_of(content: Any) -> str:
    """A message's ``content``: a string, or (some providers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def to_gemini(completion: bytes, include_thoughts: bool) -> bytes:
    try:
        obj = orjson.loads(completion)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
        raise UpstreamError("the upstream answered with a malformed completion", code="malformed_upstream_response")
    candidates = []
    for position, choice in enumerate(obj["choices"]):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        parts: list[dict[str, Any]] = []
        reasoning = message.get("reasoning_content")
        if include_thoughts and isinstance(reasoning, str) and reasoning:
            parts.append({"text": reasoning, "thought": True})
        text = text_of(message.get("content")) or text_of(message.get("refusal"))
        if text:
            parts.append({"text": text})
        reason = finish_reason(choice.get("finish_reason"))
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            part = function_call_part(call.get("id"), fn.get("name"), fn.get("arguments")) \
                if isinstance(fn, dict) else None
            if part is None:
                reason = MALFORMED
            else:
                parts.append(part)
        candidates.append({"content": {"parts": parts or [{"text": ""}], "role": "model"},
                           "finishReason": reason, "index": choice.get("index", position)})
    out: dict[str, Any] = {"candidates": candidates}
    usage = usage_metadata(obj.get("usage"))
    if usage is not None:
        out["usageMetadata"] = usage
    out["modelVersion"] = str(obj.get("model") or "")
    if obj.get("id"):
        out["responseId"] = str(obj["id"])
    return orjson.dumps(out)
