"""OpenAI chat ``messages`` -> Gemini ``systemInstruction`` + ``contents``.

https://ai.google.dev/api/caching#Content : a conversation is a list of ``{"role": "user"|"model",
"parts": [...]}``. System and developer messages become the one ``systemInstruction`` (Gemini has no
system turns), tool results become ``functionResponse`` parts of a user turn, and the assistant's
``tool_calls`` become ``functionCall`` parts of a model turn. User content parts Gemini cannot read
(a ``file`` by id, a part type other than text, image_url, input_audio or file) are refused with 400
``unsupported_parameter`` naming the part, by the shared rule of ``providers/params.py``.
"""
from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.params import unsupported, unsupported_part

# OpenAI's input_audio formats -> media types Gemini accepts for inlineData.
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "aac": "audio/aac",
               "ogg": "audio/ogg", "opus": "audio/ogg", "pcm16": "audio/pcm"}


def build_contents(messages: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Return ``(systemInstruction or None, contents)``; raise ``BadRequest`` naming the message at fault."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", param="messages")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool_call id -> function name: functionResponse needs the name
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRequest(f"{where} must be an object", param=where)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_text_parts(msg.get("content"), where))
        elif role == "user":
            parts = _user_parts(msg.get("content"), where)
            if parts:
                contents.append({"role": "user", "parts": parts})
        elif role == "assistant":
            parts = _assistant_parts(msg, where, call_names)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role in ("tool", "function"):
            part = _function_response(msg, where, call_names)
            last = contents[-1] if contents else None
            # parallel calls: Gemini wants every answer of one model turn in one user turn
            if last is not None and last["role"] == "user" and "functionResponse" in last["parts"][-1]:
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise BadRequest(f"{where}.role must be system, developer, user, assistant or tool",
                             param=f"{where}.role")
    return ({"parts": system} if system else None), contents


def _text_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if isinstance(content, list):
        parts = []
        for j, item in enumerate(content):
            if not isinstance(item, dict) or item.get("type") not in ("text", "refusal"):
                raise BadRequest(f"{where}.content[{j}] must be a text part here", param=f"{where}.content")
            text = item.get("text", item.get("refusal"))
            if not isinstance(text, str):
                raise BadRequest(f"{where}.content[{j}].text must be a string", param=f"{where}.content")
            if text:
                parts.append({"text": text})
        return parts
    raise BadRequest(f"{where}.content must be a string or a list of parts", param=f"{where}.content")


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_parts(content, where)
    parts: list[dict[str, Any]] = []
    for j, item in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            parts.extend(_text_parts([item], where))
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media_part(url, at, "image/jpeg"))
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            fmt = str(audio.get("format", "")).lower()
            if fmt not in AUDIO_TYPES or not isinstance(audio.get("data"), str):
                raise BadRequest(f"{at}.input_audio needs base64 data and a format of "
                                 f"{', '.join(AUDIO_TYPES)}", param=at)
            parts.append({"inlineData": {"mimeType": AUDIO_TYPES[fmt], "data": audio["data"]}})
        elif kind == "file":
            file = item.get("file") or {}
            if not isinstance(file.get("file_data"), str):
                raise unsupported(f"{at}.file", f"{at}.file: Gemini needs the file inline as file_data (a base64 data "
                                  "URL); file_id is not supported")
            parts.append(_media_part(file["file_data"], at, "application/pdf"))
        else:
            raise unsupported_part(at, kind, "Gemini", "text, image_url, input_audio and file parts")
    return parts


def _media_part(url: Any, at: str, default_type: str) -> dict[str, Any]:
    """A ``data:`` URL becomes ``inlineData``; an http(s) or gs:// URL becomes ``fileData``.

    ``fileData`` needs a media type, which a URL does not carry: it is guessed from the path's extension
    (``default_type`` when unknown). Gemini fetches Files-API, YouTube and public URLs itself and rejects
    the rest with a 400 of its own.
    """
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{at}: the URL must be a non-empty string", param=at)
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not comma or encoding.lower() != "base64" or not mime:
            raise BadRequest(f"{at}: a data URL must look like data:<media type>;base64,<data>", param=at)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("http://", "https://", "gs://")):
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
        return {"fileData": {"mimeType": guessed or default_type, "fileUri": url}}
    raise BadRequest(f"{at}: the URL must be a data:, http(s):// or gs:// URL", param=at)


def _assistant_parts(msg: dict[str, Any], where: str, call_names: dict[str, str]) -> list[dict[str, Any]]:
    parts = _text_parts(msg.get("content"), where)
    calls = msg.get("tool_calls") or []
    if msg.get("function_call"):  # the legacy single-call field
        calls = [*calls, {"id": None, "function": msg["function_call"]}]
    if not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"{at}.function.name is required", param=at)
        part: dict[str, Any] = {"functionCall": {"name": fn["name"], "args": _arguments(fn.get("arguments"), at)}}
        signature = _thought_signature(call)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
        if call.get("id"):
            call_names[str(call["id"])] = fn["name"]
    return parts


def _arguments(raw: Any, at: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        args = orjson.loads(raw) if isinstance(raw, (str, bytes)) else None
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise BadRequest(f"{at}.function.arguments must be a JSON object encoded as a string", param=at)
    return args


def _thought_signature(call: dict[str, Any]) -> str | None:
    """Gemini 3 needs a function call's ``thoughtSignature`` back; clients carry it in ``extra_content``."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def _function_response(msg: dict[str, Any], where: str, call_names: dict[str, str]) -> dict[str, Any]:
    name = msg.get("name") if msg.get("role") == "function" else None
    if name is None:
        call_id = msg.get("tool_call_id")
        name = call_names.get(str(call_id)) if call_id is not None else None
        if name is None:
            raise BadRequest(f"{where}.tool_call_id {call_id!r} matches no tool_call of an earlier assistant "
                             "message; Gemini needs the function's name", param=f"{where}.tool_call_id")
    content = msg.get("content")
    text = content if isinstance(content, str) else "".join(p["text"] for p in _text_parts(content, where))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    # functionResponse.response is a JSON object (a protobuf Struct): wrap anything else
    return {"functionResponse": {"name": name, "response": value if isinstance(value, dict) else {"result": value}}}
