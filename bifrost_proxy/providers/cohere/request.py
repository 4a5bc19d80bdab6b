"""OpenAI chat request -> Cohere v2 chat request body (https://docs.cohere.com/reference/chat).

The mapping table is in the package docstring (``cohere/__init__.py``); what is dropped or refused is the
rule every native adapter shares (``providers/params.py``). Every ``BadRequest`` raised here names the
parameter the client has to change.
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.params import reject_unsupported, stop_sequences, tools_and_choice, unsupported_part

# OpenAI field -> Cohere field, passed as given (Cohere checks the ranges and answers 400 itself)
RENAMED = (("temperature", "temperature"), ("top_p", "p"), ("top_k", "k"), ("seed", "seed"),
           ("frequency_penalty", "frequency_penalty"), ("presence_penalty", "presence_penalty"))
TOOL_CHOICES = {"auto": None, "none": "NONE", "required": "REQUIRED"}
# the parameters of params.REJECTED that Cohere honours (response_format: json_object, with a schema)
SUPPORTED = frozenset({"response_format"})


def build_chat_body(call: Call) -> dict[str, Any]:
    """The ``/v2/chat`` body for ``call``; raises ``BadRequest`` for what Cohere cannot answer."""
    req = call.body
    reject_unsupported(req, SUPPORTED, "Cohere")
    body: dict[str, Any] = {"model": call.model, "messages": convert_messages(req.get("messages"))}
    for ours, theirs in RENAMED:
        if req.get(ours) is not None:
            body[theirs] = req[ours]
    stop = stop_sequences(req)
    if stop:
        body["stop_sequences"] = stop
    param = "max_completion_tokens" if req.get("max_completion_tokens") is not None else "max_tokens"
    limit = req.get(param)
    if limit is not None:
        if type(limit) is not int or limit < 1:
            raise BadRequest(f"'{param}' must be a positive integer", param=param)
        body["max_tokens"] = limit
    _tools(req, body)
    _response_format(req.get("response_format"), body)
    if call.stream:
        body["stream"] = True
    return body


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI ``messages`` -> Cohere ``messages`` (roles system, user, assistant, tool)."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of messages", param="messages")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text_content(message.get("content"), where)})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(message.get("content"), where)})
        elif role == "assistant":
            out.append(_assistant(message, where))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"'{where}.tool_call_id' is required for a tool message",
                                 param=f"{where}.tool_call_id")
            out.append({"role": "tool", "tool_call_id": call_id,
                        "content": _text_content(message.get("content"), where)})
        else:
            raise BadRequest(f"'{where}.role' must be system, developer, user, assistant or tool for cohere "
                             "(the deprecated 'function' role has no tool call id: use 'tool')",
                             param=f"{where}.role")
    return out


def _text_content(content: Any, where: str) -> str | list[dict[str, str]]:
    """A string, or text parts kept as Cohere text parts; anything else is a 400."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return [{"type": "text", "text": _part_text(part, f"{where}.content[{j}]")}
                for j, part in enumerate(content)]
    raise BadRequest(f"'{where}.content' must be a string or a list of text parts", param=f"{where}.content")


def _part_text(part: Any, where: str) -> str:
    kind = part.get("type") if isinstance(part, dict) else None
    key = "refusal" if kind == "refusal" else "text"
    if kind not in ("text", "refusal") or not isinstance(part.get(key), str):
        raise BadRequest(f"'{where}' must be a text part here", param=where)
    return part[key]


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_content(content, where)  # type: ignore[return-value]
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise BadRequest(f"'{at}.image_url.url' must be a URL or a data: URL", param=f"{at}.image_url")
            converted: dict[str, Any] = {"url": url}
            if isinstance(image, dict) and image.get("detail") in ("auto", "low", "high"):
                converted["detail"] = image["detail"]
            out.append({"type": "image_url", "image_url": converted})
        elif isinstance(part, dict) and part.get("type") == "text":
            out.append({"type": "text", "text": _part_text(part, at)})
        else:
            kind = part.get("type") if isinstance(part, dict) else None
            raise unsupported_part(at, kind, "Cohere", "text and image_url parts")
    return out


def _assistant(message: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    content = message.get("content")
    text = None if content is None or content == [] else _text_content(content, where)
    calls = message.get("tool_calls")
    if calls is None and isinstance(message.get("function_call"), dict):  # the deprecated spelling
        calls = [{"id": "call_0", "type": "function", "function": message["function_call"]}]
    if calls:
        if not isinstance(calls, list):
            raise BadRequest(f"'{where}.tool_calls' must be a list", param=f"{where}.tool_calls")
        out["tool_calls"] = [_tool_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(calls)]
        if text:
            # Cohere keeps the text before a tool call as the message's tool plan (response.py does the reverse)
            out["tool_plan"] = text if isinstance(text, str) else "".join(p["text"] for p in text)
    elif text is not None:
        out["content"] = text
    return out


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"'{where}.function.name' is required", param=f"{where}.function.name")
    arguments = function.get("arguments")
    return {"id": str(call.get("id") or ""), "type": "function",
            "function": {"name": function["name"], "arguments": arguments if isinstance(arguments, str) else "{}"}}


def _tools(req: dict[str, Any], body: dict[str, Any]) -> None:
    tools, choice = tools_and_choice(req)
    if not tools:
        return  # tool_choice without tools means nothing; Cohere would reject REQUIRED without tools
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", param="tools")
    converted = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    if any(isinstance(t.get("function"), dict) and t["function"].get("strict") is True for t in tools):
        body["strict_tools"] = True  # Cohere's switch is per request, not per tool
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise BadRequest("'tool_choice' must be auto, none, required or {\"type\": \"function\", "
                             "\"function\": {\"name\": ...}}", param="tool_choice")
        if TOOL_CHOICES[choice]:
            body["tool_choice"] = TOOL_CHOICES[choice]
    elif choice is not None:
        function = choice.get("function") if isinstance(choice, dict) else None
        name = function.get("name") if isinstance(function, dict) else (
            choice.get("name") if isinstance(choice, dict) else None)
        named = [t for t in converted if t["function"]["name"] == name]
        if not named:
            raise BadRequest("'tool_choice' names a function that is not in 'tools'", param="tool_choice")
        # Cohere cannot force one tool by name: offering only that tool, required, has the same effect
        converted = named
        body["tool_choice"] = "REQUIRED"
    body["tools"] = converted


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):  # a type other than function was refused by reject_unsupported
        raise BadRequest(f"'{where}' must be an object", param=where)
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"'{where}.function.name' is required", param=f"{where}.function.name")
    parameters = function.get("parameters")
    out: dict[str, Any] = {
        "name": function["name"],
        # required upstream; OpenAI allows it to be left out for a function without arguments
        "parameters": parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return {"type": "function", "function": out}


def _response_format(fmt: Any, body: dict[str, Any]) -> None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return
    if kind == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("'response_format.json_schema.schema' must be an object",
                             param="response_format.json_schema.schema")
        body["response_format"] = {"type": "json_object", "json_schema": schema}
    else:
        raise BadRequest("'response_format.type' must be text, json_object or json_schema",
                         param="response_format.type")
