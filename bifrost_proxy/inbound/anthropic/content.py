"""Anthropic ``system`` + ``messages`` -> OpenAI chat ``messages`` (https://docs.anthropic.com/en/api/messages).

Block by block:

- ``system`` (a string or text blocks) -> one ``system`` message, the texts joined by a blank line.
- ``text`` -> a text part (a lone text part becomes a plain string: every OpenAI-compatible server reads it).
- ``image`` with a ``base64`` source -> an ``image_url`` part holding a ``data:`` URL; a ``url`` source -> that
  URL.
- ``document``: a base64 PDF -> a ``file`` part (``file_data``); plain text or a ``content`` source -> text
  parts; ``search_result`` -> a text part with its title and source.
- ``tool_use`` (assistant) -> ``tool_calls`` (input as a JSON string; what a provider hid in the id comes
  out again: ``tool_ids.py``); ``tool_result`` (user) -> a ``tool``
  message, before the rest of its turn as OpenAI wants. A tool result's text is the tool message; its
  images, which a tool message cannot hold, follow in a user message.
- ``thinking`` and ``redacted_thinking`` in the history are dropped: their signatures mean something only
  to Anthropic, and OpenAI's history has no place for them.
- ``cache_control`` marks are dropped (prompt caching is the upstream's own affair).

Blocks that only Anthropic can act on (server tool calls and results, container uploads, files by id,
documents by URL) are refused with 400 ``unsupported_parameter`` naming the block; passed through to an
``anthropic`` provider they are served as they are.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.anthropic.tool_ids import openai_tool_id
from bifrost_proxy.providers.params import shown, unsupported

Part = dict[str, Any]
Message = dict[str, Any]
ONLY_NATIVE = ("; a model of an anthropic provider receives it untouched, any other needs it "
               "dropped")


def convert_messages(messages: list[Any], system: Any) -> list[Message]:
    """The OpenAI chat history for a checked Anthropic request (see ``request.check_request``)."""
    out: list[Message] = []
    text = system_text(system)
    if text:
        out.append({"role": "system", "content": text})
    for i, msg in enumerate(messages):
        path = f"messages[{i}]"
        content = msg["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if msg["role"] == "user":
            out.extend(_user_turn(blocks, path))
        else:
            answer = _assistant_turn(blocks, path)
            if answer is not None:
                out.append(answer)
    return out


def system_text(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    texts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise BadRequest(f"system[{j}] must be a text block", param=f"system[{j}]")
        texts.append(_text(block, f"system[{j}]"))
    return "\n\n".join(t for t in texts if t)


def _user_turn(blocks: list[Any], path: str) -> list[Message]:
    tool_messages: list[Message] = []
    parts: list[Part] = []
    for j, block in enumerate(blocks):
        bpath = f"{path}.content[{j}]"
        kind = _kind(block, bpath)
        if kind == "tool_result":
            message, images = _tool_result(block, bpath)
            tool_messages.append(message)
            parts.extend(images)  # after the tool messages, with the rest of the turn
        else:
            parts.extend(_parts(block, kind, bpath))
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        tool_messages.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return tool_messages


def _assistant_turn(blocks: list[Any], path: str) -> Message | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        bpath = f"{path}.content[{j}]"
        kind = _kind(block, bpath)
        if kind == "text":
            texts.append(_text(block, bpath))
        elif kind == "tool_use":
            calls.append(_tool_call(block, bpath))
        elif kind not in ("thinking", "redacted_thinking"):
            raise _refused(bpath, f"content blocks of type {shown(kind)}")
    if not texts and not calls:
        return None
    message: Message = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _parts(block: dict[str, Any], kind: str, path: str) -> list[Part]:
    """The OpenAI content parts of one user block (text, image, document, search result)."""
    if kind == "text":
        return [{"type": "text", "text": _text(block, path)}]
    if kind == "image":
        return [_image(block, path)]
    if kind == "document":
        return _document(block, path)
    if kind == "search_result":
        return [_search_result(block, path)]
    raise _refused(path, f"content blocks of type {shown(kind)}")


def _tool_call(block: dict[str, Any], path: str) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{path}.id must be a non-empty string", param=f"{path}.id")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{path}.name must be a non-empty string", param=f"{path}.name")
    if not isinstance(arguments, dict):
        raise BadRequest(f"{path}.input must be an object", param=f"{path}.input")
    call_id, extra_content = openai_tool_id(call_id)
    tool_call = {"id": call_id, "type": "function", "function": {"name": name,
                                                                 "arguments": orjson.dumps(arguments).decode()}}
    if extra_content is not None:
        tool_call["extra_content"] = extra_content  # what the provider needs back (see tool_ids.py)
    return tool_call


def _tool_result(block: dict[str, Any], path: str) -> tuple[Message, list[Part]]:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise BadRequest(f"{path}.tool_use_id must be a non-empty string", param=f"{path}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    images: list[Part] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            ipath = f"{path}.content[{k}]"
            for part in _parts(inner, _kind(inner, ipath), ipath):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    images.append(part)
    elif content is not None:
        raise BadRequest(f"{path}.content must be a string or an array of blocks", param=f"{path}.content")
    return {"role": "tool", "tool_call_id": openai_tool_id(tool_use_id)[0], "content": "\n".join(texts)}, images


def _image(block: dict[str, Any], path: str) -> Part:
    source = _source(block, path)
    kind = source.get("type")
    if kind == "base64":
        return {"type": "image_url", "image_url": {"url": _data_url(source, path)}}
    if kind == "url":
        return {"type": "image_url", "image_url": {"url": _string(source, "url", f"{path}.source")}}
    raise _refused(f"{path}.source.type", f"an image source of type {shown(kind)}")


def _document(block: dict[str, Any], path: str) -> list[Part]:
    source = _source(block, path)
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise BadRequest(f"{path}.source.media_type must be application/pdf for a base64 document",
                             param=f"{path}.source.media_type")
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        return [{"type": "file", "file": {"filename": filename, "file_data": _data_url(source, path)}}]
    if kind == "text":
        return [{"type": "text", "text": _string(source, "data", f"{path}.source")}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        if not isinstance(inner, list):
            raise BadRequest(f"{path}.source.content must be a string or an array of blocks",
                             param=f"{path}.source.content")
        parts: list[Part] = []
        for k, sub in enumerate(inner):
            spath = f"{path}.source.content[{k}]"
            kind = _kind(sub, spath)
            if kind not in ("text", "image"):  # all a content source may hold: no nesting without end
                raise BadRequest(f"{spath} must be a text or image block", param=spath)
            parts.extend(_parts(sub, kind, spath))
        return parts
    raise _refused(f"{path}.source.type", f"a document source of type {shown(kind)}")


def _search_result(block: dict[str, Any], path: str) -> Part:
    head = " - ".join(str(block[k]) for k in ("title", "source") if isinstance(block.get(k), str) and block[k])
    texts = [_text(inner, f"{path}.content[{k}]") for k, inner in enumerate(block.get("content") or [])
             if isinstance(inner, dict)]
    return {"type": "text", "text": "\n\n".join(t for t in [head, *texts] if t)}


def _kind(block: Any, path: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise BadRequest(f"{path} must be a content block: an object with a string 'type'", param=path)
    return kind


def _text(block: dict[str, Any], path: str) -> str:
    return _string(block, "text", path, empty=True)


def _source(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest(f"{path}.source must be an object", param=f"{path}.source")
    return source


def _data_url(source: dict[str, Any], path: str) -> str:
    media_type = _string(source, "media_type", f"{path}.source")
    return f"data:{media_type};base64,{_string(source, 'data', f'{path}.source')}"


def _string(obj: dict[str, Any], name: str, path: str, empty: bool = False) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not (value or empty):
        raise BadRequest(f"{path}.{name} must be a {'' if empty else 'non-empty '}string", param=f"{path}.{name}")
    return value


def _refused(path: str, what: str) -> BadRequest:
    return unsupported(path, f"{path}: {what} cannot be translated for a provider that does not speak "
                             f"Anthropic's API{ONLY_NATIVE}")
