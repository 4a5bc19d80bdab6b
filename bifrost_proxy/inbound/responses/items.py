"""Responses ``instructions`` and ``input`` items -> OpenAI chat ``messages`` (pure).

| Responses                                              | chat                                                 |
|---|---|
| ``instructions``                                       | a first ``system`` message                           |
| ``input`` as a string                                  | one ``user`` message                                 |
| ``message`` items (``type`` may be left out)           | a message; ``developer`` -> ``system``               |
| ``input_text`` / ``output_text`` parts                 | ``text`` parts (system and assistant: one string)    |
| ``input_image`` with ``image_url``                     | ``image_url`` part (``detail`` kept)                 |
| ``input_file`` with ``file_data`` or ``file_id``       | ``file`` part                                        |
| ``function_call`` items                                | ``tool_calls`` of the assistant message before them  |
| ``function_call_output`` items                         | ``tool`` messages (text output)                      |
| ``reasoning`` items                                    | dropped: a model's own opaque state, no chat field   |
| stored items (``item_reference``), built-in tool calls | 400 ``responses_api_only``                           |
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import BadRequest

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
RESPONSES_API_ONLY = "responses_api_only"


def native_only(param: str, what: str, provider: str) -> BadRequest:
    """The 400 for what only an upstream with the Responses API serves, naming the field and the way out."""
    return BadRequest(f"'{param}' {what}: only a provider with OpenAI's Responses API serves that (openai, "
                      f"azure, or one with options.responses_api: native); provider {provider!r} has this "
                      "request translated to chat completions", param=param, code=RESPONSES_API_ONLY)


def input_messages(native: dict[str, Any], provider: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = native.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = native.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    for i, item in enumerate(items or ()):
        path = f"input[{i}]"
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if kind == "message":
            messages.append(_message(item, path, provider))
        elif kind == "function_call":
            _add_tool_call(messages, item, path)
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", path),
                             "content": _tool_output(item.get("output"), f"{path}.output", provider)})
        elif kind == "reasoning":
            continue  # encrypted or summarised thinking of an earlier turn: no chat provider can read it
        elif isinstance(kind, str):
            raise native_only(f"{path}.type", f"is {kind[:60]!r}, an item chat completions has no place for",
                              provider)
        else:
            raise BadRequest(f"'{path}' needs a string 'type' (or a 'role' for a message)", param=path)
    if not any(m["role"] != "system" for m in messages):
        raise BadRequest("'input' must hold at least one message or item", param="input")
    return messages


def _string(item: dict[str, Any], name: str, path: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"'{path}.{name}' must be a string", param=f"{path}.{name}")
    return value


def _message(item: dict[str, Any], path: str, provider: str) -> dict[str, Any]:
    role = item.get("role")
    role = ROLES.get(role) if isinstance(role, str) else None
    if role is None:
        raise BadRequest(f"'{path}.role' must be user, assistant, system or developer", param=f"{path}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise BadRequest(f"'{path}.content' must be a string or a list of content parts", param=f"{path}.content")
    parts = [_part(part, f"{path}.content[{j}]", provider) for j, part in enumerate(content)]
    if role == "user":
        return {"role": role, "content": parts}
    # system and assistant messages are read as one string by every adapter
    texts = []
    for j, part in enumerate(parts):
        if part["type"] != "text":
            raise BadRequest(f"'{path}.content[{j}]' must be text in a {item['role']} message",
                             param=f"{path}.content[{j}]")
        texts.append(part["text"])
    return {"role": role, "content": "".join(texts) if role == "assistant" else "\n".join(texts)}


def _part(part: Any, path: str, provider: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise BadRequest(f"'{path}' must be a content part object", param=path)
    kind = part.get("type")
    if not isinstance(kind, str):
        raise BadRequest(f"'{path}.type' must be a string", param=f"{path}.type")
    if kind in TEXT_PARTS:
        return {"type": "text", "text": _string(part, "text", path)}
    if kind == "refusal":
        return {"type": "text", "text": _string(part, "refusal", path)}
    if kind == "input_image":
        url = part.get("image_url")
        if isinstance(url, str) and url:
            image: dict[str, Any] = {"url": url}
            if isinstance(part.get("detail"), str):
                image["detail"] = part["detail"]
            return {"type": "image_url", "image_url": image}
        if part.get("file_id") is not None:
            raise native_only(f"{path}.file_id", "names an image in OpenAI's file storage", provider)
        raise BadRequest(f"'{path}.image_url' must be a URL or a data: URL", param=f"{path}.image_url")
    if kind == "input_file":
        file: dict[str, Any] = {}
        for name in ("file_data", "file_id", "filename"):
            if isinstance(part.get(name), str):
                file[name] = part[name]
        if "file_data" in file or "file_id" in file:
            return {"type": "file", "file": file}
        if part.get("file_url") is not None:
            raise native_only(f"{path}.file_url", "asks the upstream to fetch a file", provider)
        raise BadRequest(f"'{path}' needs 'file_data' or 'file_id'", param=path)
    raise native_only(f"{path}.type", f"is {kind[:60]!r}, a content part chat completions cannot carry",
                      provider)


def _add_tool_call(messages: list[dict[str, Any]], item: dict[str, Any], path: str) -> None:
    call = {"id": _string(item, "call_id", path), "type": "function",
            "function": {"name": _string(item, "name", path), "arguments": _string(item, "arguments", path)}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        # the text and the calls of one assistant turn are one chat message
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_output(output: Any, path: str, provider: str) -> str:
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise BadRequest(f"'{path}' must be a string or a list of content parts", param=path)
    texts = []
    for j, part in enumerate(output):
        converted = _part(part, f"{path}[{j}]", provider)
        if converted["type"] != "text":
            raise native_only(f"{path}[{j}]", "is not text, and a chat tool result is text only", provider)
        texts.append(converted["text"])
    return "".join(texts)
