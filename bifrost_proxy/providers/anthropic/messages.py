"""OpenAI chat history -> Anthropic ``system`` + ``messages`` (https://docs.anthropic.com/en/api/messages).

Anthropic has no system role, wants user and assistant turns to alternate, carries tool calls as
``tool_use`` blocks of the assistant and tool answers as ``tool_result`` blocks of the next user turn.
So: system and developer messages go to ``system`` (in order, as text blocks); ``tool`` messages become
user turns; consecutive turns of one role are merged into one turn, with ``tool_result`` blocks first
(Anthropic rejects a user turn whose tool results follow other content).

Images: an http(s) URL becomes a ``url`` image source, a ``data:<type>;base64,`` URL a ``base64`` one.
A ``file`` part holding a base64 PDF becomes a ``document`` block. Parts Anthropic cannot read (audio
input, other part types, files by id, files other than PDF) are refused with 400 ``unsupported_parameter``
naming the part, by the shared rule of ``providers/params.py``. Empty text is dropped (Anthropic rejects
empty text blocks), and so is a turn left with no content at all.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.params import unsupported, unsupported_part

Block = dict[str, Any]


def convert_messages(messages: Any) -> tuple[list[Block], list[dict[str, Any]]]:
    """Return ``(system_blocks, messages)`` in Anthropic's shape; raise ``BadRequest`` naming the field."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRequest(f"{path} must be an object", param=path)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(msg.get("content"), path))
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), path)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, path)
        elif role == "tool":
            blocks = [_tool_result(msg, path)]
            role = "user"
        else:
            raise BadRequest(f"{path}.role {role!r} is not supported by anthropic "
                             "(use system, developer, user, assistant or tool)", param=f"{path}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise BadRequest("'messages' needs at least one user or assistant message", param="messages")
    for turn in turns:
        if turn["role"] == "user":
            # stable: tool results first, everything else after, each in its own order
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _text_blocks(content: Any, path: str) -> list[Block]:
    """Content that may only hold text (system, developer, tool results, assistant)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"{path}.content must be a string or an array of parts", param=f"{path}.content")
    blocks = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            raise BadRequest(f"{path}.content[{j}] must be a text part here", param=f"{path}.content[{j}]")
        block = _text_part(part, f"{path}.content[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _text_part(part: dict[str, Any], path: str) -> Block | None:
    key = "refusal" if part.get("type") == "refusal" else "text"
    text = part.get(key)
    if not isinstance(text, str):
        raise BadRequest(f"{path}.{key} must be a string", param=f"{path}.{key}")
    return _with_cache_control({"type": "text", "text": text}, part) if text else None


def _user_blocks(content: Any, path: str) -> list[Block]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, path)
    if not isinstance(content, list):
        raise BadRequest(f"{path}.content must be a string or an array of parts", param=f"{path}.content")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        ppath = f"{path}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            block = _text_part(part, ppath)
            if block is not None:
                blocks.append(block)
        elif kind == "image_url":
            blocks.append(_with_cache_control(_image(part.get("image_url"), ppath), part))
        elif kind == "file":
            blocks.append(_with_cache_control(_document(part.get("file"), ppath), part))
        else:
            raise unsupported_part(ppath, kind, "Anthropic", "text, image_url and PDF file parts")
    return blocks


def _image(image_url: Any, path: str) -> Block:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{path}.image_url.url must be a non-empty string", param=f"{path}.image_url.url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = _data_url(url, f"{path}.image_url.url")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document(file: Any, path: str) -> Block:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str):
        raise unsupported(f"{path}.file", f"{path}.file: Anthropic needs the file inline as file_data "
                          "(a data: URL); file_id is not supported")
    media_type, data = _data_url(data_url, f"{path}.file.file_data")
    if media_type != "application/pdf":
        raise unsupported(f"{path}.file.file_data",
                          f"{path}.file.file_data: Anthropic accepts PDF documents only, not {media_type}")
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _data_url(url: str, param: str) -> tuple[str, str]:
    head, comma, data = url.partition(",")
    if not url.startswith("data:") or not comma or not head.endswith(";base64"):
        raise BadRequest(f"{param} must be an http(s) URL or a data:<media type>;base64,<data> URL", param=param)
    return head[5:-7], data


def _assistant_blocks(msg: dict[str, Any], path: str) -> list[Block]:
    blocks = _text_blocks(msg.get("content"), path)
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise BadRequest(f"{path}.tool_calls must be an array", param=f"{path}.tool_calls")
    for j, call in enumerate(calls):
        cpath = f"{path}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or not isinstance(call.get("id"), str):
            raise BadRequest(f"{cpath} needs an id and a function with a name", param=cpath)
        blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"],
                       "input": _arguments(function.get("arguments"), f"{cpath}.function.arguments")})
    return blocks


def _arguments(arguments: Any, param: str) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise BadRequest(f"{param} is not valid JSON", param=param) from None
    if not isinstance(value, dict):
        raise BadRequest(f"{param} must encode a JSON object (anthropic tool input is an object)", param=param)
    return value


def _tool_result(msg: dict[str, Any], path: str) -> Block:
    tool_call_id = msg.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise BadRequest(f"{path}.tool_call_id is required for role 'tool'", param=f"{path}.tool_call_id")
    content = msg.get("content")
    result: Block = {"type": "tool_result", "tool_use_id": tool_call_id}
    if isinstance(content, str):
        result["content"] = content
    else:
        result["content"] = _text_blocks(content, path)
    return result


def _with_cache_control(block: Block, part: dict[str, Any]) -> Block:
    # clients written for Anthropic-aware gateways mark parts for prompt caching; keep the mark
    cache_control = part.get("cache_control")
    if isinstance(cache_control, dict):
        block["cache_control"] = cache_control
    return block
