"""OpenAI chat completion -> Response object (pure), and the pieces the stream translator shares with it.

https://platform.openai.com/docs/api-reference/responses/object. From the completion's first choice:

- ``message.reasoning_content`` (Anthropic thinking, Gemini thoughts, DeepSeek ...) -> a ``reasoning`` item
  whose ``content`` is one ``reasoning_text`` part;
- ``message.content`` -> a ``message`` item with one ``output_text`` part; ``message.refusal`` -> a
  ``refusal`` part of that item;
- each of ``message.tool_calls`` -> a ``function_call`` item (``call_id`` is the chat tool call's id);
- ``finish_reason`` ``length`` / ``content_filter`` -> ``status: incomplete`` with
  ``incomplete_details.reason`` ``max_output_tokens`` / ``content_filter``; anything else -> ``completed``;
- ``usage`` -> ``input_tokens`` / ``output_tokens`` with their cached and reasoning details.

The request's settings are echoed as OpenAI echoes them; ``store`` is false because nothing is stored.
"""
from __future__ import annotations

import os
import time
from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import Call

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    return "resp_" + os.urandom(24).hex()


def item_id(prefix: str, response_id: str, index: int) -> str:
    """An output item's id, unique within its response (``msg_``, ``fc_``, ``rs_`` as OpenAI names them)."""
    return f"{prefix}_{response_id[5:]}{index:04x}"


def response_object(native: dict[str, Any], response_id: str, created_at: int, model: str, status: str,
                    output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                    incomplete_reason: str | None = None) -> dict[str, Any]:
    reasoning = native.get("reasoning") if isinstance(native.get("reasoning"), dict) else {}
    parallel = native.get("parallel_tool_calls")
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": False, "error": None,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": native.get("instructions"), "max_output_tokens": native.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": True if parallel is None else parallel,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False, "temperature": native.get("temperature"),
        "text": native.get("text") or {"format": {"type": "text"}},
        "tool_choice": native.get("tool_choice") or "auto", "tools": native.get("tools") or [],
        "top_p": native.get("top_p"), "truncation": native.get("truncation") or "disabled",
        "usage": usage, "user": native.get("user"), "metadata": native.get("metadata") or {},
    }


def responses_usage(usage: Any) -> dict[str, Any] | None:
    """OpenAI chat ``usage`` -> the Responses ``usage`` object."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": prompt_details.get("cached_tokens") or 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": completion_details.get("reasoning_tokens") or 0},
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """A Responses ``usage`` object -> OpenAI chat ``usage``, the shape the access log and metrics read."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": usage.get("total_tokens") or prompt + completion}
    details = usage.get("input_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        out["prompt_tokens_details"] = {"cached_tokens": details["cached_tokens"]}
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": details["reasoning_tokens"]}
    return out


def text_part(kind: str, text: str) -> dict[str, Any]:
    """A finished content part: ``output_text``, ``refusal`` or ``reasoning_text``."""
    if kind == "output_text":
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "reasoning_text", "text": text}


def message_item(item: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item, "type": "message", "status": status, "content": parts, "role": "assistant"}


def reasoning_item(item: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item, "type": "reasoning", "status": status, "summary": [], "content": parts}


def function_call_item(item: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": item, "type": "function_call", "status": status, "arguments": arguments, "call_id": call_id,
            "name": name}


def translate_completion(call: Call, body: bytes) -> bytes:
    """A non-stream chat completion (JSON bytes) as a Response object (JSON bytes)."""
    try:
        completion = orjson.loads(body)
        choice = completion["choices"][0]
        message = choice.get("message") or {}
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise UpstreamError("the upstream answered a chat completion without a choice",
                            code="malformed_upstream_response") from None
    response_id = new_response_id()
    finish = choice.get("finish_reason")
    reason = INCOMPLETE_REASONS.get(finish) if isinstance(finish, str) else None
    status = "incomplete" if reason else "completed"
    output: list[dict[str, Any]] = []
    thinking = message.get("reasoning_content")
    if isinstance(thinking, str) and thinking:
        output.append(reasoning_item(item_id("rs", response_id, 0), [text_part("reasoning_text", thinking)],
                                     status))
    parts = [text_part(kind, message[field]) for kind, field in (("output_text", "content"),
                                                                  ("refusal", "refusal"))
             if isinstance(message.get(field), str) and message[field]]
    if parts:
        output.append(message_item(item_id("msg", response_id, len(output)), parts, status))
    for tool_call in message.get("tool_calls") or ():
        if not isinstance(tool_call, dict):
            continue
        function = tool_call.get("function") or {}
        output.append(function_call_item(item_id("fc", response_id, len(output)), str(tool_call.get("id") or ""),
                                         str(function.get("name") or ""), str(function.get("arguments") or ""),
                                         "completed"))
    created = completion.get("created")
    answer = response_object(call.native_body or {}, response_id,
                             created if isinstance(created, int) else int(time.time()),
                             str(completion.get("model") or call.model), status, output,
                             responses_usage(completion.get("usage")), reason)
    return orjson.dumps(answer)
