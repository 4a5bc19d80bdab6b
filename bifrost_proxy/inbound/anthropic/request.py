"""Anthropic Messages request -> OpenAI chat body (https://docs.anthropic.com/en/api/messages).

``check_request`` is all a passthrough needs (the fields every request must have, so a mistake is answered
here, in Anthropic's shape, naming the field); ``to_openai`` translates the rest for every other provider:

==========================================  ===========================================================
Anthropic                                   OpenAI chat
==========================================  ===========================================================
system, messages                            ``messages`` (block by block: see ``content.py``)
max_tokens                                  ``max_tokens``
stop_sequences                              ``stop``
temperature, top_p                          same names
stream                                      ``stream`` (the adapters count usage on every stream)
tools (custom: name, description,           ``tools`` of type function {name, description, parameters}
input_schema)
tool_choice auto / any / tool / none        ``auto`` / ``required`` / {"type": "function", ...} / ``none``
tool_choice.disable_parallel_tool_use       ``parallel_tool_calls: false``
metadata.user_id                            ``user``
output_config.format, output_format         ``response_format`` {type: json_schema, json_schema: {name:
(json_schema)                               "output", schema}}
==========================================  ===========================================================

Refused with 400 ``unsupported_parameter`` naming the field, because only Anthropic can honour them:
server and Anthropic-defined tools (``tools[i].type`` web_search_..., bash_..., ...), ``mcp_servers``,
``container``. Dropped, since an answer made without them is still a correct answer: ``thinking`` (OpenAI
chat has no common switch for it; a provider that reasons anyway streams it back as thinking blocks),
``output_config.effort``, ``top_k``, ``service_tier``, ``speed``, ``inference_geo``, ``cache_control``,
``context_management``, ``diagnostics``, the rest of ``metadata`` and names Anthropic does not define.
"""
from __future__ import annotations

from typing import Any

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.anthropic.content import convert_messages
from bifrost_proxy.providers.params import shown, unsupported

ROLES = ("user", "assistant")
# only Anthropic runs these: a translated request cannot keep what they ask for
NATIVE_ONLY = ("mcp_servers", "container")
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def check_request(body: dict[str, Any], counting: bool = False) -> None:
    """The fields every Messages (or ``count_tokens``) request needs; a 400 naming the first one wrong."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required: a model name such as 'claude-sonnet-4-5' or "
                         "'openai/gpt-4o-mini'", param="model")
    if not counting:
        max_tokens = body.get("max_tokens")
        if type(max_tokens) is not int or max_tokens < 0:
            raise BadRequest("'max_tokens' is required: a non-negative integer", param="max_tokens")
        if body.get("stream") is not None and not isinstance(body["stream"], bool):
            raise BadRequest("'stream' must be true or false", param="stream")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array of messages", param="messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}].role must be 'user' or 'assistant'", param=f"messages[{i}].role")
        if not isinstance(msg.get("content"), (str, list)):
            raise BadRequest(f"messages[{i}].content must be a string or an array of content blocks",
                             param=f"messages[{i}].content")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise BadRequest("'system' must be a string or an array of text blocks", param="system")


def to_openai(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI chat body for a checked Anthropic request; ``model`` is already ``PROVIDER/MODEL``."""
    for name in NATIVE_ONLY:
        if body.get(name):
            raise unsupported(name, f"'{name}' is served by Anthropic only: send it to a model of an anthropic "
                                    "provider, or drop it")
    out: dict[str, Any] = {"model": model, "messages": convert_messages(body["messages"], body.get("system"))}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BadRequest(f"'{name}' must be a number", param=name)
            out[name] = value
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise BadRequest("'stop_sequences' must be an array of strings", param="stop_sequences")
        if stop:
            out["stop"] = stop
    if body.get("stream") is True:
        out["stream"] = True
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        out["user"] = metadata["user_id"]
    _tools(body, out)
    _output_format(body, out)
    return out


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", param="tools")
    if not tools:
        return
    out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("tool_choice.name must name a tool", param="tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    else:
        raise BadRequest("'tool_choice.type' must be auto, any, tool or none", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _tool(tool: Any, path: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise BadRequest(f"{path} must be an object", param=path)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise unsupported(f"{path}.type", f"{path}.type {shown(kind)} is a tool Anthropic itself runs, which only "
                                          "an anthropic provider can: send it to a model of one, or drop the tool")
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{path}.name must be a non-empty string", param=f"{path}.name")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise BadRequest(f"{path}.input_schema must be a JSON schema object", param=f"{path}.input_schema")
    function: dict[str, Any] = {"name": name, "parameters": schema}
    description = tool.get("description")
    if isinstance(description, str) and description:
        function["description"] = description
    return {"type": "function", "function": function}


def _output_format(body: dict[str, Any], out: dict[str, Any]) -> None:
    config = body.get("output_config")
    param, fmt = "output_format", body.get("output_format")
    if isinstance(config, dict) and config.get("format") is not None:
        param, fmt = "output_config.format", config["format"]
    if fmt is None:
        return
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    if not isinstance(schema, dict):
        raise BadRequest(f"'{param}' must be {{\"type\": \"json_schema\", \"schema\": {{...}}}}", param=param)
    out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
