"""OpenAI chat request -> Bedrock Converse request body.

https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html . What is dropped and
what is refused is the rule every native adapter shares (``providers/params.py``); every refusal is a
400 naming the offending field.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.params import (reject_unsupported, shown, tools_and_choice, unsupported,
                                            unsupported_part)

# None of params.REJECTED: Converse returns one choice, no log probabilities, no audio, and has no JSON mode.
SUPPORTED: frozenset[str] = frozenset()
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
# Anthropic's extended thinking on Bedrock: reasoning_effort -> thinking.budget_tokens (minimum 1024)
THINKING_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}
THINKING_HEADROOM = 4096  # maxTokens we set when thinking is on and the client set none


def converse_body(call: Call) -> dict[str, Any]:
    body = call.body
    reject_unsupported(body, SUPPORTED, "Bedrock Converse")
    system, messages = translate_messages(body.get("messages"))
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    inference = inference_config(body)
    tools = tool_config(body)
    if tools:
        out["toolConfig"] = tools
    extra = thinking_fields(call.model, body, inference)
    if extra:
        out["additionalModelRequestFields"] = extra
    if inference:
        out["inferenceConfig"] = inference
    return out


def _text_of(content: Any, param: str) -> str:
    """Content that may only hold text (system, tool results): a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest("only text parts are allowed here", param=f"{param}[{j}]")
            texts.append(part["text"])
        return "".join(texts)
    raise BadRequest("must be a string or a list of content parts", param=param)


def _image_block(url: Any, param: str) -> dict[str, Any]:
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        raise unsupported(param, "Bedrock cannot fetch image URLs; send the image inline as a base64 data URL "
                                 "(data:image/png;base64,...)")
    if not isinstance(url, str) or not url.startswith("data:"):
        raise BadRequest("an image must be a base64 data URL (data:image/png;base64,...)", param=param)
    meta, comma, data = url[5:].partition(",")
    mime, _, encoding = meta.partition(";")
    fmt = IMAGE_FORMATS.get(mime.removeprefix("image/").lower()) if mime.startswith("image/") else None
    if not comma or encoding.lower() != "base64":
        raise BadRequest("an image must be a base64 data URL (data:image/png;base64,...)", param=param)
    if fmt is None:
        raise unsupported(param, f"Bedrock Converse reads png, jpeg, gif and webp images, not {shown(mime)}")
    # JSON carries a blob as base64 text: the client's base64 goes through untouched
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _user_content(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest("must be a string or a list of content parts", param=param)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image_block(url, f"{param}[{j}].image_url.url"))
        else:
            raise unsupported_part(f"{param}[{j}]", kind, "Bedrock Converse", "text and base64 image_url parts")
    return blocks


def _tool_use(call: Any, param: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(call.get("id"), str):
        raise BadRequest("a tool call needs an id and a function name", param=param)
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise BadRequest("tool call arguments must be a JSON object", param=f"{param}.function.arguments") from None
    if not isinstance(args, dict):
        raise BadRequest("tool call arguments must be a JSON object", param=f"{param}.function.arguments")
    return {"toolUse": {"toolUseId": call["id"], "name": fn["name"], "input": args}}


def translate_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages). Consecutive turns of one role are merged: Converse wants them alternating."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", param="messages")
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRequest("a message must be an object", param=param)
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            text = _text_of(content, f"{param}.content")
            if text:
                system.append({"text": text})
            continue
        if role == "user":
            blocks, turn = _user_content(content, f"{param}.content"), "user"
        elif role == "assistant":
            text = _text_of(content, f"{param}.content")
            blocks = [{"text": text}] if text else []
            calls = msg.get("tool_calls") or []
            if not isinstance(calls, list):
                raise BadRequest("tool_calls must be a list", param=f"{param}.tool_calls")
            blocks += [_tool_use(c, f"{param}.tool_calls[{j}]") for j, c in enumerate(calls)]
            turn = "assistant"
        elif role == "tool":
            if not isinstance(msg.get("tool_call_id"), str):
                raise BadRequest("a tool message needs tool_call_id", param=f"{param}.tool_call_id")
            result = {"toolUseId": msg["tool_call_id"], "content": [{"text": _text_of(content, f"{param}.content")}]}
            blocks, turn = [{"toolResult": result}], "user"  # Converse carries tool results in a user turn
        else:
            raise BadRequest(f"message role {role!r} is not supported by Bedrock Converse", param=f"{param}.role")
        if not blocks:
            continue  # Converse refuses empty turns; an empty message says nothing
        if out and out[-1]["role"] == turn:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": turn, "content": blocks})
    return system, out


def inference_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop:
        config["stopSequences"] = stop
    return config


def tool_config(body: dict[str, Any]) -> dict[str, Any] | None:
    tools, choice = tools_and_choice(body)
    if not tools or choice == "none":
        return None  # "none": the model must not call a tool, so it is not told about any
    if not isinstance(tools, list):
        raise BadRequest("tools must be a list", param="tools")
    specs = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None  # other types: reject_unsupported
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest("a tool needs a function with a name", param=f"tools[{i}].function.name")
        spec: dict[str, Any] = {"name": fn["name"],
                                "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}}}
        if fn.get("description"):
            spec["description"] = fn["description"]
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice in (None, "auto"):
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    else:
        raise BadRequest("tool_choice must be none, auto, required or a named function", param="tool_choice")
    return config


def thinking_fields(model: str, body: dict[str, Any], inference: dict[str, Any]) -> dict[str, Any] | None:
    """Anthropic models: reasoning_effort turns on extended thinking. Other models: it is dropped."""
    effort = body.get("reasoning_effort")
    budget = THINKING_BUDGET.get(effort) if isinstance(effort, str) else None
    if budget is None or "anthropic." not in model:
        return None
    max_tokens = inference.get("maxTokens")
    if max_tokens is None:
        inference["maxTokens"] = budget + THINKING_HEADROOM
    elif not isinstance(max_tokens, int) or max_tokens <= 1024:
        raise BadRequest("reasoning_effort needs max_tokens above 1024 on Anthropic models (thinking uses "
                         "at least 1024 of them)", param="reasoning_effort")
    else:
        budget = min(budget, max_tokens - 1)  # Anthropic wants budget_tokens < max_tokens
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}
