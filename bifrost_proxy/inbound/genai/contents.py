"""Gemini ``contents`` and ``systemInstruction`` -> OpenAI chat ``messages``.

https://ai.google.dev/api/caching#Content : a turn is ``{"role": "user"|"model", "parts": [...]}``.
- ``model`` turns become assistant messages: text parts join into ``content``, ``functionCall`` parts
  become ``tool_calls`` (the call's ``id`` when it has one, else one made from its position); thought
  parts and thought signatures are Gemini's own and are left out (only a Gemini upstream reads them, and
  that one gets the request untouched).
- ``user`` turns: ``functionResponse`` parts become ``tool`` messages, answering the model's call with
  the same id, else the first unanswered call of that name; the other parts become one user message:
  text, images (``inlineData`` -> a data URL, ``fileData`` -> its URL), audio (``input_audio``), PDF
  (``file``). Media other providers cannot read, code execution parts and unknown parts are Gemini-only.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.genai.names import GeminiOnly, pick

# media types OpenAI's input_audio reads -> its format name
AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mp3": "mp3",
                 "audio/mpeg": "mp3"}
GEMINI_ONLY_PARTS = (("executableCode", "executable_code"), ("codeExecutionResult", "code_execution_result"))


def system_message(value: Any, gemini_only: GeminiOnly) -> dict[str, Any] | None:
    """``systemInstruction`` (a Content, or a plain string) as one system message."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"role": "system", "content": value} if value else None
    if not isinstance(value, dict):
        raise BadRequest("systemInstruction must be a Content object with text parts",
                         param="systemInstruction")
    texts = []
    for j, part in enumerate(_parts(value, "systemInstruction", allow_empty=True)):
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            gemini_only.add(f"systemInstruction.parts[{j}]", "a system instruction part other than text")
    text = "".join(texts)
    return {"role": "system", "content": text} if text else None


def messages(contents: Any, gemini_only: GeminiOnly) -> list[dict[str, Any]]:
    if not isinstance(contents, list) or not contents:
        raise BadRequest("contents must be a non-empty list of {role, parts} turns", param="contents")
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of the last model turn's calls not answered yet
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise BadRequest(f"{where} must be an object with role and parts", param=where)
        role = content.get("role") or "user"
        parts = _parts(content, where)
        if role == "model":
            message, pending = _model_turn(parts, where, i)
            if message is not None:
                out.append(message)
        elif role in ("user", "function"):
            out.extend(_user_turn(parts, where, pending, gemini_only))
        else:
            raise BadRequest(f"{where}.role must be user or model (got {str(role)[:50]!r})", param=f"{where}.role")
    return out


def _parts(content: dict[str, Any], where: str, allow_empty: bool = False) -> list[dict[str, Any]]:
    parts = content.get("parts")
    if not isinstance(parts, list) or not (parts or allow_empty):
        raise BadRequest(f"{where}.parts must be a non-empty list", param=f"{where}.parts")
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise BadRequest(f"{where}.parts[{j}] must be an object", param=f"{where}.parts[{j}]")
    return parts


def _model_turn(parts: list[dict[str, Any]], where: str,
                index: int) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        call = pick(part, "functionCall", "function_call")
        if call is not None:
            at = f"{where}.parts[{j}].functionCall"
            if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
                raise BadRequest(f"{at}.name is required", param=f"{at}.name")
            args = call.get("args") or {}
            if not isinstance(args, dict):
                raise BadRequest(f"{at}.args must be an object", param=f"{at}.args")
            # Gemini API calls carry no id: one from the call's place in the conversation, stable per request
            call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else f"call_{index}_{j}"
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": call["name"], "arguments": orjson.dumps(args).decode()}})
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        # thought summaries, signatures and model-made media are not sent back to other providers
    if not texts and not calls:
        return None, []
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message, [(c["id"], c["function"]["name"]) for c in calls]


def _user_turn(parts: list[dict[str, Any]], where: str, pending: list[tuple[str, str]],
               gemini_only: GeminiOnly) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        answer = pick(part, "functionResponse", "function_response")
        if answer is not None:
            tool_messages.append(_tool_message(answer, f"{at}.functionResponse", pending))
            continue
        converted = _user_part(part, at, gemini_only)
        if converted is not None:
            content.append(converted)
    out = tool_messages
    if content:
        plain = all(c["type"] == "text" for c in content)
        out.append({"role": "user", "content": "".join(c["text"] for c in content) if plain else content})
    return out


def _tool_message(answer: Any, at: str, pending: list[tuple[str, str]]) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("name"), str):
        raise BadRequest(f"{at}.name is required", param=f"{at}.name")
    name = answer["name"]
    call_id = answer.get("id") if isinstance(answer.get("id"), str) and answer["id"] else None
    match = next((p for p in pending if p[0] == call_id), None) if call_id else \
        next((p for p in pending if p[1] == name), None)
    if match is None and call_id is None:
        raise BadRequest(f"{at}.name: {name[:100]!r} answers no unanswered functionCall of the model turn "
                         "before it; give the call's id or its name", param=f"{at}.name")
    if match is not None:
        pending.remove(match)
        call_id = match[0]
    result = answer.get("response")
    return {"role": "tool", "tool_call_id": call_id,
            "content": orjson.dumps(result if result is not None else {}).decode()}


def _user_part(part: dict[str, Any], at: str, gemini_only: GeminiOnly) -> dict[str, Any] | None:
    text = part.get("text")
    if isinstance(text, str):
        return {"type": "text", "text": text} if text else None
    inline = pick(part, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = str(pick(inline, "mimeType", "mime_type") or "").lower()
        data = inline.get("data")
        if not isinstance(data, str) or not mime:
            raise BadRequest(f"{at}.inlineData needs mimeType and base64 data", param=f"{at}.inlineData")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
        if mime in AUDIO_FORMATS:
            return {"type": "input_audio", "input_audio": {"data": data, "format": AUDIO_FORMATS[mime]}}
        if mime == "application/pdf":
            return {"type": "file", "file": {"filename": "document.pdf", "file_data": f"data:{mime};base64,{data}"}}
        gemini_only.add(f"{at}.inlineData", f"inline {mime[:100]} data")
        return None
    file = pick(part, "fileData", "file_data")
    if isinstance(file, dict):
        mime = str(pick(file, "mimeType", "mime_type") or "").lower()
        uri = pick(file, "fileUri", "file_uri")
        if not isinstance(uri, str) or not uri:
            raise BadRequest(f"{at}.fileData.fileUri is required", param=f"{at}.fileData.fileUri")
        if mime.startswith("image/") and uri.startswith(("http://", "https://")):
            return {"type": "image_url", "image_url": {"url": uri}}
        gemini_only.add(f"{at}.fileData", "a file by URI other than an http(s) image")
        return None
    for camel, snake in GEMINI_ONLY_PARTS:
        if pick(part, camel, snake) is not None:
            gemini_only.add(f"{at}.{camel}", "code execution")
            return None
    gemini_only.add(at, "a part that is not text, inlineData, fileData or a function call/response")
    return None
