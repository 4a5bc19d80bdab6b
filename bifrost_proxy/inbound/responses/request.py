"""A Responses request: shape checks on every path, and its stateless translation to an OpenAI chat body.

``check_request`` runs before any provider is chosen, for passthrough and translation alike: a field of the
wrong type is a 400 naming it. ``to_chat_body`` runs only when some target of the request has no Responses
API of its own (https://platform.openai.com/docs/api-reference/responses/create):

| Responses                                       | chat                                                    |
|---|---|
| ``input``, ``instructions``                     | ``messages`` (``items.py``)                             |
| ``tools`` of type ``function``                  | ``tools`` (``{"type": "function", "function": {...}}``) |
| ``tool_choice`` auto/none/required/function     | ``tool_choice``                                         |
| ``text.format`` json_object / json_schema       | ``response_format``                                     |
| ``reasoning.effort``                            | ``reasoning_effort`` (each adapter maps it or drops it) |
| ``max_output_tokens``                           | ``max_completion_tokens``                               |

Copied under the same name: temperature, top_p, user; with tools only (chat refuses them without),
tool_choice and parallel_tool_calls. Dropped: include (but logprobs), truncation, metadata,
reasoning.summary, max_tool_calls, stream_options (nothing to keep or honour without server state), and
OpenAI's own tuning and labelling fields (text.verbosity, prompt_cache_key, prompt_cache_retention,
safety_identifier, service_tier), which Codex sends and other services may refuse.
A 400 ``responses_api_only`` naming the field: previous_response_id, conversation, store: true,
background: true, prompt, moderation, top_logprobs, include message.output_text.logprobs, built-in tools
and the items of built-in tools or stored state.
"""
from __future__ import annotations

from typing import Any, Callable

from bifrost_proxy.errors import BadRequest
from bifrost_proxy.inbound.responses.items import input_messages, native_only

# (field, expected kinds, what the message says): a value of another kind is a 400 naming the field
NUMBER = (int, float)
FIELD_KINDS: tuple[tuple[str, tuple[type, ...], str], ...] = (
    ("input", (str, list), "a string or a list of input items"),
    ("instructions", (str,), "a string"),
    ("stream", (bool,), "true or false"),
    ("tools", (list,), "a list of tools"),
    ("tool_choice", (str, dict), "a string or an object"),
    ("text", (dict,), "an object"),
    ("reasoning", (dict,), "an object"),
    ("max_output_tokens", (int,), "an integer"),
    ("temperature", NUMBER, "a number"),
    ("top_p", NUMBER, "a number"),
    ("parallel_tool_calls", (bool,), "true or false"),
    ("store", (bool,), "true or false"),
    ("background", (bool,), "true or false"),
    ("previous_response_id", (str,), "a string"),
    ("metadata", (dict,), "an object"),
    ("include", (list,), "a list of strings"),
    ("user", (str,), "a string"),
    ("fallbacks", (list,), "a list of 'provider/model' strings"),
)
# (field, does this value ask for it, what it asks): only an upstream with the Responses API can answer
NATIVE_ONLY: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("previous_response_id", lambda v: v is not None, "continues a stored response"),
    ("conversation", lambda v: v is not None, "continues a stored conversation"),
    ("store", lambda v: v is True, "asks for the response to be stored"),
    ("background", lambda v: v is True, "asks for a background response"),
    ("prompt", lambda v: v is not None, "names a stored prompt"),
    ("moderation", lambda v: v is not None, "asks for moderation by OpenAI"),
    ("top_logprobs", lambda v: v not in (None, 0), "asks for log probabilities"),
    ("include", lambda v: isinstance(v, list) and "message.output_text.logprobs" in v,
     "asks for log probabilities"),
)
COPIED = ("temperature", "top_p", "user")
TOOL_CHOICES = frozenset({"auto", "none", "required"})


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # a boolean is an int to Python, never to a JSON schema
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def check_request(native: dict[str, Any]) -> bool:
    """400 for a field of the wrong shape, naming it; returns whether the client asked for a stream."""
    model = native.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a non-empty string like 'openai/gpt-4o-mini'", param="model")
    for name, kinds, what in FIELD_KINDS:
        value = native.get(name)
        if value is not None and not _is(value, kinds):
            raise BadRequest(f"'{name}' must be {what}", param=name)
    for name, what in (("input", "an input item object"), ("tools", "a tool object with a string 'type'")):
        value = native.get(name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict) or (name == "tools" and not isinstance(item.get("type"), str)):
                    raise BadRequest(f"'{name}[{i}]' must be {what}", param=f"{name}[{i}]")
    for name in ("include", "fallbacks"):
        value = native.get(name)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise BadRequest(f"'{name}' must be a list of strings", param=name)
    return native.get("stream") is True


def to_chat_body(native: dict[str, Any], provider: str) -> dict[str, Any]:
    """The chat body for ``native`` (already checked), without ``model``; ``provider`` is named in errors."""
    for name, asks, what in NATIVE_ONLY:
        if asks(native.get(name)):
            raise native_only(name, what, provider)
    body: dict[str, Any] = {"messages": input_messages(native, provider)}
    tools = [_tool(tool, i, provider) for i, tool in enumerate(native.get("tools") or ())]
    if tools:
        body["tools"] = tools
        # chat completions refuses these two without tools; the Responses API ignores them
        choice = native.get("tool_choice")
        if choice is not None:
            body["tool_choice"] = _tool_choice(choice, provider)
        if native.get("parallel_tool_calls") is not None:
            body["parallel_tool_calls"] = native["parallel_tool_calls"]
    _text(native.get("text"), body)
    effort = (native.get("reasoning") or {}).get("effort")
    if effort is not None:
        if not isinstance(effort, str):
            raise BadRequest("'reasoning.effort' must be a string such as 'low'", param="reasoning.effort")
        body["reasoning_effort"] = effort
    if native.get("max_output_tokens") is not None:
        body["max_completion_tokens"] = native["max_output_tokens"]
    for name in COPIED:
        if native.get(name) is not None:
            body[name] = native[name]
    return body


def _tool(tool: dict[str, Any], i: int, provider: str) -> dict[str, Any]:
    if tool["type"] != "function":
        raise native_only(f"tools[{i}]", f"is the built-in tool {tool['type'][:60]!r}", provider)
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"'tools[{i}].name' must be a non-empty string", param=f"tools[{i}].name")
    function: dict[str, Any] = {"name": name}
    for field in ("description", "parameters", "strict"):
        if tool.get(field) is not None:
            function[field] = tool[field]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any, provider: str) -> Any:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise BadRequest("'tool_choice' must be auto, none, required or a function", param="tool_choice")
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise native_only("tool_choice", f"picks {str(choice.get('type'))[:60]!r}, not a function", provider)


def _text(text: Any, body: dict[str, Any]) -> None:
    if not text:
        return
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        name, schema = fmt.get("name"), fmt.get("schema")
        if not isinstance(name, str) or not isinstance(schema, dict):
            raise BadRequest("'text.format' of type json_schema needs a string 'name' and an object 'schema'",
                             param="text.format")
        spec = {"name": name, "schema": schema}
        for field in ("description", "strict"):
            if fmt.get(field) is not None:
                spec[field] = fmt[field]
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif kind != "text":
        raise BadRequest("'text.format.type' must be text, json_object or json_schema", param="text.format.type")
